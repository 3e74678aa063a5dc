"""``SinkContract``: what every sink must do, whatever the provider.

Subclass it once per sink (``class TestSendGridContract(SinkContract)``) and provide:

- ``sink_class``: the Sink subclass;
- fixture ``provider``: a running fake provider (or real local server);
- fixture ``sink``: a started sink pointed at ``provider``;
- fixture ``down_sink``: a started sink pointed at a port where nothing listens;
- ``message(to=None)``: a valid message for the sink's channel;
- ``break_provider(provider)``: make the provider's next answer an outage (5xx/4xx transient);
- ``secrets``: the secret strings in the sink's settings;
- ``status_headers``: the signature header names its status webhook reads (empty if none);
- ``status_request(headers)``: a status webhook request carrying ``headers`` (no signature).

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
from hub.errors import DeliveryError, ProviderUnavailable, SignatureError, TransientError

if TYPE_CHECKING:
    from hub.messages import OutboundMessage

#: Header values an attacker (or a broken proxy) might send.
HOSTILE_VALUES = ["", " ", "abc", "=", "%%%", "v1,", "MEUCIQ", "0" * 500, "é", "\x00",
                  "1600112502", "-1", "1e400", "nan", "Zm9v", "a" * 4096]


class SinkContract:
    """Behaviour shared by every sink; see the module docstring for what to provide."""

    sink_class: ClassVar[type[Sink]]
    secrets: ClassVar[list[str]] = []
    status_headers: ClassVar[list[str]] = []

    def message(self, to: str | None = None) -> OutboundMessage:
        """A valid message for the sink's channel."""
        raise NotImplementedError

    def break_provider(self, provider: Any) -> None:
        """Make the provider's next answer an outage."""
        raise NotImplementedError

    def status_request(self, headers: dict[str, str]) -> InboundRequest:
        """A plausible status webhook carrying ``headers`` instead of a valid signature."""
        raise NotImplementedError

    def assert_clean(self, exc: BaseException, recipient: str) -> None:
        """The error text names no secret and not the recipient."""
        text = f"{exc} {exc!r} {getattr(exc, 'detail', '')}"
        for secret in self.secrets:
            assert secret not in text, f"secret in error text: {text}"
        assert recipient not in text, f"recipient in error text: {text}"

    # -- declaration --------------------------------------------------------------------------

    def test_declares_type_channels_and_config(self) -> None:
        """A config type, at least one channel and a settings model."""
        assert isinstance(self.sink_class.type, str) and self.sink_class.type
        assert self.sink_class.channels
        assert self.sink_class.Config.model_config.get("extra") == "forbid"

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
        assert result.status == "accepted"

    async def test_outage_is_transient(self, sink: Sink, provider: Any) -> None:
        """An outage may be retried or failed over."""
        self.break_provider(provider)
        message = self.message()
        with pytest.raises(TransientError) as caught:
            await sink.send(message)
        self.assert_clean(caught.value, message.to)

    async def test_connection_refused_is_provider_unavailable(self, down_sink: Sink) -> None:
        """Nothing listening: nothing was sent, so retrying is safe."""
        message = self.message()
        with pytest.raises(ProviderUnavailable) as caught:
            await down_sink.send(message)
        self.assert_clean(caught.value, message.to)

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

    async def test_unsigned_status_webhook_is_refused(self, sink: Sink) -> None:
        """No signature, no receipt."""
        if not sink.accepts_webhooks:
            pytest.skip(f"{self.sink_class.type} receives no status webhooks")
        with pytest.raises(SignatureError):
            await sink.verify_status(self.status_request({}))

    def test_hostile_signature_headers_only_raise_signature_error(self, sink: Sink) -> None:
        """Malformed headers are a 401 (SignatureError), never a crash."""
        if not sink.accepts_webhooks or not self.status_headers:
            pytest.skip(f"{self.sink_class.type} receives no status webhooks")
        values = st.sampled_from(HOSTILE_VALUES) | st.text(max_size=64)

        @settings(max_examples=60, deadline=None)
        @given(headers=st.fixed_dictionaries({}, optional={name: values
                                                           for name in self.status_headers}))
        def check(headers: dict[str, str]) -> None:
            with pytest.raises(SignatureError):
                asyncio.run(sink.verify_status(self.status_request(headers)))

        check()


class HttpSinkContract(SinkContract):
    """The contract for sinks that call an HTTP provider: the provider is the module's ``fake``
    fixture, and the down sink points at a port where nothing listens.

    Subclasses set ``build`` (``build(base_url, http) -> Sink``, not started) and, when the
    provider's base URL has a path, ``base_path``.
    """

    #: Builds an unstarted sink for a base URL and the shared HTTP session.
    build: ClassVar[Any]
    #: Path after host and port in the provider's base URL (Mandrill: ``/api/1.3``).
    base_path: ClassVar[str] = ""

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
