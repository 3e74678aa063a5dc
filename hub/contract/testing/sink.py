"""``SinkContract``: what every sink must do, whatever the provider.

Subclass it once per sink (``class TestSlackContract(HttpSinkContract)``) and provide:

- ``sink_class``: the Sink subclass;
- fixture ``provider``: the running provider (a :class:`~hub.contract.testing.FakeProvider`
  subclass, a local server, a folder);
- fixture ``sink``: a started sink pointed at ``provider``;
- fixture ``down_sink``: a started sink pointed at a port where nothing listens (sinks without
  a remote provider leave the default, None);
- ``message(to=None)``: a valid message for the sink's channel (a fresh ``message_id`` each);
- ``break_provider(provider)``: make the provider's next answer an outage;
- ``secrets``: the secret strings in the sink's settings (never in an error text);
- ``refused_recipient``: an address the sink must refuse before sending (None: it has none);
- for sinks with status webhooks: ``status_headers`` (the signature header names it reads),
  ``status_request(headers)`` (a status webhook carrying ``headers``, not validly signed) and
  ``signed_status_request(provider, message, result)`` (a correctly signed one about ``message``).

:class:`HttpSinkContract` adds what an HTTP provider can do to a sink (429, 401, silence, a 5xx
before and after the provider took the message) through the fake provider's fault knobs.
Every error a sink raises must say what the dispatcher should do (its class) and must not
contain a secret or the recipient's address.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from hub.connectors import InboundRequest, Sink
from hub.errors import (
    DeliveryError,
    OutcomeUnknown,
    ProviderMisconfigured,
    ProviderUnavailable,
    RateLimited,
    RecipientRefused,
    SignatureError,
    TransientError,
)

if TYPE_CHECKING:
    from hub.messages import OutboundMessage, SendResult

#: Header values an attacker (or a broken proxy) might send.
HOSTILE_VALUES = ["", " ", "abc", "=", "%%%", "v1,", "MEUCIQ", "0" * 500, "é", "\x00",
                  "1600112502", "-1", "1e400", "nan", "Zm9v", "a" * 4096]


def _tampered(request: InboundRequest) -> InboundRequest:
    """``request`` with one more byte in its body (and form, when it has one)."""
    form = dict(request.form) if request.form is not None else None
    if form:
        key = next(iter(form))
        form[key] += " "
    return InboundRequest(method=request.method, url=request.url, path=request.path,
                          headers=request.headers, query=request.query, body=request.body + b" ",
                          received_at=request.received_at, remote=request.remote, form=form)


class SinkContract:
    """Behaviour shared by every sink; see the module docstring for what to provide."""

    sink_class: ClassVar[type[Sink]]
    secrets: ClassVar[list[str]] = []
    status_headers: ClassVar[list[str]] = []
    #: An address the sink must refuse before calling anyone; None when every string is one.
    refused_recipient: ClassVar[str | None] = "not-an-address"

    def message(self, to: str | None = None) -> OutboundMessage:
        """A valid message for the sink's channel."""
        raise NotImplementedError

    def break_provider(self, provider: Any) -> None:
        """Make the provider's next answer an outage."""
        raise NotImplementedError

    def status_request(self, headers: dict[str, str]) -> InboundRequest:
        """A plausible status webhook carrying ``headers`` instead of a valid signature."""
        raise NotImplementedError

    def signed_status_request(self, provider: Any, message: OutboundMessage,
                              result: SendResult) -> InboundRequest:
        """A status webhook about ``message`` (sent with ``result``), signed as the provider
        signs it."""
        raise NotImplementedError

    def assert_clean(self, exc: BaseException, recipient: str) -> None:
        """The error text names no secret and not the recipient."""
        text = f"{exc} {exc!r} {getattr(exc, 'detail', '')} {getattr(exc, 'message', '')}"
        for secret in self.secrets:
            assert secret not in text, f"secret in error text: {text}"
        assert recipient not in text, f"recipient in error text: {text}"

    # -- declaration --------------------------------------------------------------------------

    def test_declares_type_channels_and_config(self) -> None:
        """A config type, at least one channel and a settings model."""
        assert isinstance(self.sink_class.type, str) and self.sink_class.type
        assert self.sink_class.channels
        assert self.sink_class.Config.model_config.get("extra") == "forbid"
        assert self.sink_class.send is not Sink.send, "the sink does not implement send"

    def test_every_setting_is_described(self) -> None:
        """Admins read the descriptions (``returnhub check``, the docs)."""
        for name, field in self.sink_class.Config.model_fields.items():
            assert field.description, f"{self.sink_class.type}.{name} has no description"

    def test_secrets_are_secret_str(self) -> None:
        """Fields that hold secrets never print their value."""
        for name, field in self.sink_class.Config.model_fields.items():
            secret_like = any(word in name for word in ("key", "token", "password", "secret"))
            if secret_like and "public" not in name and not name.endswith(("_sid", "_url")):
                assert "SecretStr" in str(field.annotation), f"{name} is not a SecretStr"

    def test_unknown_setting_is_refused(self) -> None:
        """A typo in config is an error, not silently ignored."""
        with pytest.raises(ValidationError):
            self.sink_class.Config.model_validate({"no_such_setting": 1})

    # -- sending ------------------------------------------------------------------------------

    async def test_send_returns_a_provider_id(self, sink: Sink) -> None:
        """A happy send says which id the provider gave the message."""
        result = await sink.send(self.message())
        assert result.provider_message_id
        assert result.status in ("accepted", "delivered")

    async def test_outage_is_transient(self, sink: Sink, provider: Any) -> None:
        """An outage may be retried or failed over."""
        self.break_provider(provider)
        message = self.message()
        with pytest.raises(TransientError) as caught:
            await sink.send(message)
        self.assert_clean(caught.value, message.to)

    @pytest.fixture
    def down_sink(self) -> Sink | None:
        """A sink pointed where nothing listens; None for sinks without a remote provider."""
        return None

    async def test_connection_refused_is_provider_unavailable(self, down_sink: Sink | None
                                                              ) -> None:
        """Nothing listening: nothing was sent, so retrying is safe."""
        if down_sink is None:
            pytest.skip(f"{self.sink_class.type} calls no remote provider")
        message = self.message()
        with pytest.raises(ProviderUnavailable) as caught:
            await down_sink.send(message)
        self.assert_clean(caught.value, message.to)

    async def test_refused_recipient_is_named_nowhere(self, sink: Sink) -> None:
        """A bad address is refused for good, and the error text does not repeat it."""
        if self.refused_recipient is None:
            pytest.skip(f"{self.sink_class.type} takes any recipient string")
        message = self.message(self.refused_recipient)
        with pytest.raises(RecipientRefused) as caught:
            await sink.send(message)
        self.assert_clean(caught.value, self.refused_recipient)

    async def test_concurrent_sends_all_succeed(self, sink: Sink) -> None:
        """The sink is safe to call from many tasks at once."""
        results = await asyncio.gather(*(sink.send(self.message()) for _ in range(20)))
        assert len({r.provider_message_id for r in results}) == 20

    async def test_errors_are_delivery_errors(self, sink: Sink, provider: Any) -> None:
        """Whatever fails, the dispatcher gets a DeliveryError subclass it can act on."""
        self.break_provider(provider)
        with pytest.raises(DeliveryError):
            await sink.send(self.message())

    # -- status webhooks ----------------------------------------------------------------------

    def _needs_webhooks(self, sink: Sink) -> None:
        if not sink.accepts_webhooks:
            pytest.skip(f"{self.sink_class.type} receives no status webhooks")

    async def test_unsigned_status_webhook_is_refused(self, sink: Sink) -> None:
        """No signature, no receipt."""
        self._needs_webhooks(sink)
        with pytest.raises(SignatureError):
            await sink.verify_status(self.status_request({}))

    async def test_signed_status_webhook_parses_to_the_message(self, sink: Sink,
                                                               provider: Any) -> None:
        """A correctly signed receipt verifies and names the message it is about."""
        self._needs_webhooks(sink)
        message = self.message()
        result = await sink.send(message)
        request = self.signed_status_request(provider, message, result)
        await sink.verify_status(request)
        updates = await sink.parse_status(request)
        assert updates, "a signed receipt parsed to nothing"
        for update in updates:
            assert update.event_id
            assert (update.message_id == message.message_id
                    or update.provider_message_id == result.provider_message_id)

    async def test_tampered_status_webhook_is_refused(self, sink: Sink, provider: Any) -> None:
        """The signature covers the body: one byte more and it no longer verifies."""
        self._needs_webhooks(sink)
        message = self.message()
        result = await sink.send(message)
        request = _tampered(self.signed_status_request(provider, message, result))
        with pytest.raises(SignatureError):
            await sink.verify_status(request)

    def test_hostile_signature_headers_only_raise_signature_error(self, sink: Sink) -> None:
        """Malformed headers are a 401 (SignatureError), never a crash."""
        self._needs_webhooks(sink)
        if not self.status_headers:
            pytest.skip(f"{self.sink_class.type} names no signature headers")
        values = st.sampled_from(HOSTILE_VALUES) | st.text(max_size=64)

        @settings(max_examples=60, deadline=None)
        @given(headers=st.fixed_dictionaries({}, optional={name: values
                                                           for name in self.status_headers}))
        def check(headers: dict[str, str]) -> None:
            with pytest.raises(SignatureError):
                asyncio.run(sink.verify_status(self.status_request(headers)))

        check()


class HttpSinkContract(SinkContract):
    """The contract for sinks that call an HTTP provider played by a
    :class:`~hub.contract.testing.FakeProvider`: the provider is the module's ``fake`` fixture,
    and the down sink points at a port where nothing listens.

    Subclasses set ``build`` (``build(base_url, http) -> Sink``, not started) and, when the
    provider's base URL has a path, ``base_path``. The ``sink`` fixture's read timeout must be
    short (under a second): the silence test waits for it.
    """

    #: Builds an unstarted sink for a base URL and the shared HTTP session.
    build: ClassVar[Any]
    #: Path after host and port in the provider's base URL (Mandrill: ``/api/1.3``).
    base_path: ClassVar[str] = ""
    #: What the sink raises when the provider took the message and then answered 5xx. Only a
    #: sink whose provider documents that a 5xx means "not taken" may say ProviderUnavailable.
    accepted_server_error: ClassVar[type[DeliveryError]] = OutcomeUnknown

    @pytest.fixture
    async def provider(self, fake: Any) -> Any:
        return fake

    @pytest.fixture
    async def down_sink(self, http: Any) -> Any:
        from .support import free_port

        instance = type(self).build(f"http://127.0.0.1:{free_port()}{self.base_path}", http)
        await instance.start()
        yield instance
        await instance.close()

    def break_provider(self, provider: Any) -> None:
        """The provider's 429: the one answer that says "nothing taken, come back later" for
        every HTTP provider (a 5xx may follow acceptance). Override with a 503 where the
        provider documents that a 5xx means nothing was taken."""
        provider.rate_limit_next(1)

    async def test_rate_limit_is_rate_limited_with_retry_after(self, sink: Sink,
                                                               provider: Any) -> None:
        """A 429: slow down for as long as the provider said, then the next send goes."""
        provider.rate_limit_next(1, retry_after=3)
        message = self.message()
        with pytest.raises(RateLimited) as caught:
            await sink.send(message)
        self.assert_clean(caught.value, message.to)
        assert caught.value.retry_after is not None and 1 <= caught.value.retry_after <= 4
        assert (await sink.send(self.message())).provider_message_id

    async def test_unauthorized_is_misconfiguration(self, sink: Sink, provider: Any) -> None:
        """A 401 is the key, not the message: pause the provider, never retry per message."""
        provider.fail_next(1, 401)
        message = self.message()
        with pytest.raises(ProviderMisconfigured) as caught:
            await sink.send(message)
        self.assert_clean(caught.value, message.to)
        assert not provider.records

    async def test_silence_after_sending_is_outcome_unknown(self, sink: Sink,
                                                            provider: Any) -> None:
        """The provider took the message and never answered: never blindly send again."""
        provider.go_silent(1)
        message = self.message()
        with pytest.raises(OutcomeUnknown) as caught:
            await sink.send(message)
        self.assert_clean(caught.value, message.to)
        assert len(provider.records) == 1

    async def test_server_error_after_acceptance(self, sink: Sink, provider: Any) -> None:
        """The provider took the message and answered 5xx: the declared error, clean."""
        provider.fail_after_accept_next(1, 500)
        message = self.message()
        with pytest.raises(DeliveryError) as caught:
            await sink.send(message)
        assert isinstance(caught.value, self.accepted_server_error), type(caught.value).__name__
        assert caught.value.status == 500
        self.assert_clean(caught.value, message.to)
        assert len(provider.records) == 1
