"""Helpers for the sink tests: messages, fixtures on disk, an SMTP relay; contexts, inbound
requests and the webhook receiver come from the shipped :mod:`hub.contract.testing`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from hub.contract.testing import (
    PUBLIC_URL,
    WebhookReceiver,
    form_request,
    free_port,
    inbound,
    make_context,
)
from hub.messages import OutboundMessage

if TYPE_CHECKING:
    import ssl

__all__ = ["PUBLIC_URL", "WebhookReceiver", "approved_email", "form_request", "free_port",
           "inbound", "load_fixture", "make_context", "RelayHandler", "SmtpRelay"]

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "sinks"


def approved_email(to: str, **overrides: Any) -> OutboundMessage:
    """A return-approved email with every field a provider body uses."""
    fields = {"message_id": "ntf_01HZY3", "channel": "email", "to": to,
              "subject": "Your return RMA-1001 was approved", "text": "Hello Jane",
              "html": "<p>Hello Jane</p>", "from_address": "shop@example.com",
              "from_name": "Example Shop", "reply_to": "help@example.com",
              "metadata": {"return": "RMA-1001", "stage": "approved"},
              "template": "return_approved"}
    return OutboundMessage(**{**fields, **overrides})


def load_fixture(name: str) -> Any:
    """A JSON file from tests/fixtures/sinks."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


class RelayHandler:
    """An aiosmtpd handler: accepts mail, refuses or defers chosen recipients, can stall DATA."""

    def __init__(self) -> None:
        #: Accepted messages: (envelope sender, recipients, raw content).
        self.messages: list[tuple[str, list[str], bytes]] = []
        #: Recipient → reply to RCPT TO (e.g. ``"550 5.1.1 ..."``).
        self.rcpt_replies: dict[str, str] = {}
        #: Reply to MAIL FROM instead of 250, when set.
        self.mail_reply: str | None = None
        #: Reply to DATA instead of 250, when set.
        self.data_reply: str | None = None
        #: Seconds to wait before answering DATA (past the client's timeout: outcome unknown).
        self.data_delay = 0.0

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: N802
        """MAIL FROM: 250 unless :attr:`mail_reply` says otherwise."""
        if self.mail_reply:
            return self.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        """RCPT TO: the reply configured for the address, else 250."""
        if address in self.rcpt_replies:
            return self.rcpt_replies[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        """DATA: record the message and answer 250 (after :attr:`data_delay`)."""
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        if self.data_reply:
            return self.data_reply
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 2.0.0 Ok: queued as FAKE123"


class SmtpRelay:
    """A real SMTP server (aiosmtpd, in its own thread) with optional AUTH and TLS.

    :param credentials: ``(user, password)`` AUTH accepts; None offers no AUTH.
    :param starttls: a server TLS context to offer STARTTLS with (and require it).
    :param implicit_tls: a server TLS context to speak TLS from the first byte.
    """

    def __init__(self, *, credentials: tuple[str, str] | None = None,
                 starttls: ssl.SSLContext | None = None,
                 implicit_tls: ssl.SSLContext | None = None) -> None:
        self.handler = RelayHandler()
        self.port = free_port()
        self.credentials = credentials
        kwargs: dict[str, Any] = {"auth_require_tls": False}
        if credentials is not None:
            kwargs["authenticator"] = self._authenticate
        if starttls is not None:
            kwargs.update(tls_context=starttls, require_starttls=True)
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port,
                                     ssl_context=implicit_tls, server_hostname="relay.test",
                                     **kwargs)

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        assert self.credentials is not None
        user, password = self.credentials
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == user.encode()
              and auth_data.password == password.encode())
        return AuthResult(success=ok, handled=False)

    def start(self) -> SmtpRelay:
        """Start the server thread."""
        self.controller.start()
        return self

    def stop(self) -> None:
        """Stop the server thread."""
        self.controller.stop()
