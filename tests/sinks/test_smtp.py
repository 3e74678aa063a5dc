"""SMTP sink against a real SMTP server (aiosmtpd): AUTH, STARTTLS, implicit TLS, and each
SMTP step's refusals mapped to the right delivery error."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import uuid
from collections.abc import AsyncIterator, Iterator
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import ValidationError

from hub.contract.testing import SinkContract
from hub.errors import (
    MessageRejected,
    OutcomeUnknown,
    ProviderMisconfigured,
    ProviderUnavailable,
    RecipientRefused,
)
from hub.messages import OutboundMessage
from returnhub_smtp import SmtpSink
from returnhub_smtp.config import SmtpSettings
from returnhub_smtp.message import MESSAGE_ID_HEADER, message_id_for

from .support import SmtpRelay, free_port, load_fixture, make_context

USER, PASSWORD = "relay-user", "relay-secret-password-0123"
RECIPIENT = "jane.customer@example.com"


def message(to: str = RECIPIENT, **overrides) -> OutboundMessage:
    """A return-approved email."""
    fields = {"message_id": "ntf_01HZY3", "channel": "email", "to": to,
              "subject": "Your return RMA-1001 was approved", "text": "Hello Jane",
              "html": "<p>Hello Jane</p>", "from_address": "shop@example.com",
              "from_name": "Example Shop", "reply_to": "help@example.com",
              "metadata": {"return": "RMA-1001", "stage": "approved"}}
    return OutboundMessage(**{**fields, **overrides})


def make_sink(port: int, **settings) -> SmtpSink:
    """An SMTP sink named ``relay`` on 127.0.0.1."""
    values = {"host": "127.0.0.1", "port": port, "security": "none", "username": USER,
              "password": PASSWORD, "timeout_seconds": 2.0, "local_hostname": "hub.test",
              **settings}
    values = {k: v for k, v in values.items() if v is not None}
    return SmtpSink(SmtpSettings(**values), make_context("relay"))


@pytest.fixture
def relay() -> Iterator[SmtpRelay]:
    """A plain SMTP server that requires AUTH."""
    server = SmtpRelay(credentials=(USER, PASSWORD)).start()
    yield server
    server.stop()


@pytest.fixture
async def sink(relay: SmtpRelay) -> AsyncIterator[SmtpSink]:
    """A started sink for the relay."""
    instance = make_sink(relay.port)
    await instance.start()
    yield instance
    await instance.close()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (cert and key PEM paths)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "relay.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "relay.pem", folder / "relay.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    """The relay's TLS context."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


class TestSmtpContract(SinkContract):
    """The shared sink contract (SMTP has no status webhook)."""

    sink_class = SmtpSink
    secrets = [PASSWORD]

    @pytest.fixture
    def provider(self, relay: SmtpRelay) -> SmtpRelay:
        return relay

    @pytest.fixture
    async def down_sink(self) -> SmtpSink:
        return make_sink(free_port())

    def message(self, to: str | None = None) -> OutboundMessage:
        return message(to or RECIPIENT, message_id=f"ntf_{uuid.uuid4().hex}")

    def break_provider(self, provider: SmtpRelay) -> None:
        provider.handler.mail_reply = "421 4.3.2 Service not available, closing channel"


# -- sending ---------------------------------------------------------------------------------


async def test_happy_path_builds_a_multipart_message(sink, relay) -> None:
    result = await sink.send(message())
    sender, recipients, raw = relay.handler.messages[-1]
    assert (sender, recipients) == ("shop@example.com", [RECIPIENT])
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in parsed.iter_parts()] == [
        "text/plain", "text/html"]
    assert parsed["Message-ID"] == "<ntf_01HZY3@example.com>"
    assert result.provider_message_id == "ntf_01HZY3@example.com"
    assert parsed[MESSAGE_ID_HEADER] == "ntf_01HZY3"
    assert parsed["From"] == "Example Shop <shop@example.com>"
    assert parsed["Reply-To"] == "help@example.com"
    assert parsed["Subject"] == "Your return RMA-1001 was approved"
    assert parsed["Date"]
    assert result.detail.startswith("250 2.0.0 Ok: queued as FAKE123")


async def test_text_only_and_html_only(sink, relay) -> None:
    await sink.send(message(html=None))
    assert message_from_bytes(relay.handler.messages[-1][2]).get_content_type() == "text/plain"
    await sink.send(message(text=""))
    assert message_from_bytes(relay.handler.messages[-1][2]).get_content_type() == "text/html"


async def test_wrong_password_is_misconfiguration_without_the_password(relay) -> None:
    wrong = "not-the-password-9876"
    sink = make_sink(relay.port, password=wrong)
    with pytest.raises(ProviderMisconfigured) as caught:
        await sink.send(message())
    assert caught.value.status == 535
    assert wrong not in str(caught.value) and PASSWORD not in str(caught.value)


async def test_refused_recipient_is_recipient_refused_without_the_address(sink, relay) -> None:
    relay.handler.rcpt_replies[RECIPIENT] = f"550 5.1.1 <{RECIPIENT}>: Recipient unknown"
    with pytest.raises(RecipientRefused) as caught:
        await sink.send(message())
    assert caught.value.status == 550 and "5.1.1" in str(caught.value)
    assert RECIPIENT not in str(caught.value)
    assert not relay.handler.messages


@pytest.mark.parametrize("reply", ["450 4.2.1 Mailbox busy", "452 4.5.3 Too many recipients",
                                   "552 5.5.3 Too many recipients"])
async def test_deferred_recipient_is_transient(sink, relay, reply) -> None:
    relay.handler.rcpt_replies[RECIPIENT] = reply
    with pytest.raises(ProviderUnavailable):
        await sink.send(message())


async def test_refused_sender_is_misconfiguration(sink, relay) -> None:
    relay.handler.mail_reply = "553 5.7.1 Sender address rejected: not owned by user"
    with pytest.raises(ProviderMisconfigured) as caught:
        await sink.send(message())
    assert caught.value.status == 553


@pytest.mark.parametrize(("reply", "error"), [
    ("554 5.6.0 Message content rejected", MessageRejected),
    ("451 4.3.0 Temporary local problem", ProviderUnavailable)])
async def test_data_replies(sink, relay, reply, error) -> None:
    relay.handler.data_reply = reply
    with pytest.raises(error):
        await sink.send(message())


async def test_silence_after_data_is_outcome_unknown(relay) -> None:
    relay.handler.data_delay = 1.5
    sink = make_sink(relay.port, timeout_seconds=0.5)
    with pytest.raises(OutcomeUnknown) as caught:
        await sink.send(message())
    assert RECIPIENT not in str(caught.value)


async def test_auth_is_optional(relay) -> None:
    open_relay = SmtpRelay().start()
    try:
        sink = make_sink(open_relay.port, username=None, password=None)
        assert (await sink.send(message())).provider_message_id
    finally:
        open_relay.stop()


@pytest.mark.parametrize(("field", "value"), [
    (case["field"], case["value"]) for case in load_fixture("header_injection.json")["cases"][:3]])
async def test_line_breaks_in_headers_are_refused(sink, relay, field, value) -> None:
    name = {"Subject": "subject", "To (display name)": "from_name"}[field]
    with pytest.raises(MessageRejected) as caught:
        await sink.send(message(**{name: value}))
    assert "evil" not in str(caught.value)
    assert not relay.handler.messages


@pytest.mark.parametrize("to", ["not-an-address", "a@b@c.example", "x@y.example\r\nBcc: z@q.z"])
async def test_malformed_recipients_are_refused_before_connecting(to) -> None:
    sink = make_sink(free_port())  # nothing listens: refusing must not need the relay
    with pytest.raises(RecipientRefused):
        await sink.send(message(to=to))


def test_message_ids_keep_our_id_when_it_is_a_dot_atom() -> None:
    assert message_id_for("ntf_01HZ.Y3", "shop.example") == "ntf_01HZ.Y3@shop.example"
    hashed = message_id_for("has space<>", "shop.example")
    assert " " not in hashed and "<" not in hashed and hashed.endswith("@shop.example")


def test_config_defaults_and_pairs() -> None:
    assert SmtpSettings(host="mx").effective_port == 587
    assert SmtpSettings(host="mx", security="tls").effective_port == 465
    assert SmtpSettings(host="mx", security="none").effective_port == 25
    with pytest.raises(ValidationError):
        SmtpSettings(host="mx", username="u")


# -- TLS -------------------------------------------------------------------------------------


async def test_starttls_with_a_trusted_ca(certificate) -> None:
    relay = SmtpRelay(credentials=(USER, PASSWORD), starttls=server_context(certificate)).start()
    try:
        sink = make_sink(relay.port, security="starttls", tls_ca_certs=str(certificate[0]))
        assert (await sink.send(message())).provider_message_id
        assert relay.handler.messages
    finally:
        relay.stop()


async def test_starttls_with_an_untrusted_certificate_is_misconfiguration(certificate) -> None:
    relay = SmtpRelay(credentials=(USER, PASSWORD), starttls=server_context(certificate)).start()
    try:
        sink = make_sink(relay.port, security="starttls")
        with pytest.raises(ProviderMisconfigured, match="TLS"):
            await sink.send(message())
    finally:
        relay.stop()


async def test_plain_connection_to_a_starttls_only_relay_is_misconfiguration(certificate
                                                                              ) -> None:
    relay = SmtpRelay(credentials=(USER, PASSWORD), starttls=server_context(certificate)).start()
    try:
        sink = make_sink(relay.port, security="none")
        with pytest.raises(ProviderMisconfigured):
            await sink.send(message())
    finally:
        relay.stop()


async def test_implicit_tls(certificate) -> None:
    relay = SmtpRelay(credentials=(USER, PASSWORD),
                      implicit_tls=server_context(certificate)).start()
    try:
        sink = make_sink(relay.port, security="tls", tls_ca_certs=str(certificate[0]))
        assert (await sink.send(message())).provider_message_id
    finally:
        relay.stop()


async def test_verification_can_be_turned_off_for_a_test_relay(certificate) -> None:
    relay = SmtpRelay(credentials=(USER, PASSWORD), starttls=server_context(certificate)).start()
    try:
        sink = make_sink(relay.port, security="starttls", tls_verify=False)
        assert (await sink.send(message())).provider_message_id
    finally:
        relay.stop()


async def test_starttls_against_a_relay_without_it_is_misconfiguration(relay) -> None:
    sink = make_sink(relay.port, security="starttls")
    with pytest.raises(ProviderMisconfigured, match="STARTTLS or AUTH"):
        await sink.send(message())


def test_list_unsubscribe_headers_stay_readable_on_the_wire() -> None:
    """A long one-click URL is not folded into RFC 2047 words a mail client cannot read."""
    from returnhub_smtp.message import build_email

    link = "https://hub.example.com/u/" + "eyJjIjoxMjM0NSwiY2giOiJlbWFpbCJ9" * 3 + ".c2ln"
    headers = {"List-Unsubscribe": f"<{link}>",
               "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    email, _, _ = build_email(message(headers=headers), SmtpSettings(host="mx"), "relay")
    parsed = message_from_bytes(email.as_bytes(), policy=policy.default)
    assert parsed["List-Unsubscribe"] == f"<{link}>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert b"=?utf-8?" not in email.as_bytes()
