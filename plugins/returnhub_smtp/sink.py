"""The ``smtp`` sink: one connection per message, each SMTP step checked on its own."""

from __future__ import annotations

import contextlib
import socket
from typing import TYPE_CHECKING, ClassVar

import aiosmtplib

from hub.contract import SendResult, Sink, redact_text
from returnhub_smtp.config import SmtpSettings
from returnhub_smtp.errors import Step, error_for
from returnhub_smtp.message import build_email

if TYPE_CHECKING:
    from hub.contract import ConnectorContext, OutboundMessage


class SmtpSink(Sink):
    """Email through an SMTP relay.

    Each send opens a connection (STARTTLS or implicit TLS as configured), authenticates, and
    runs MAIL, RCPT and DATA one by one so that a refusal is attributed to its step.
    """

    type: ClassVar[str] = "smtp"
    channels: ClassVar[frozenset[str]] = frozenset({"email"})
    Config: ClassVar[type[SmtpSettings]] = SmtpSettings

    def __init__(self, config: SmtpSettings, context: ConnectorContext) -> None:
        super().__init__(config, context)
        self.config: SmtpSettings = config
        self._local_hostname = config.local_hostname or socket.gethostname()

    def _client(self) -> aiosmtplib.SMTP:
        config = self.config
        return aiosmtplib.SMTP(
            hostname=config.host, port=config.effective_port,
            use_tls=config.security == "tls", start_tls=config.security == "starttls",
            validate_certs=config.tls_verify, cert_bundle=config.tls_ca_certs,
            timeout=config.timeout_seconds, local_hostname=self._local_hostname)

    async def send(self, message: OutboundMessage) -> SendResult:
        """Deliver one message to the relay; its 250 to DATA is the receipt."""
        email, sender, message_id = build_email(message, self.config, self.name)
        client = self._client()
        step = Step.CONNECT
        try:
            await client.connect()
            if self.config.username and self.config.password:
                step = Step.AUTH
                await client.login(self.config.username,
                                   self.config.password.get_secret_value())
            step = Step.MAIL
            await client.mail(sender)
            step = Step.RCPT
            await client.rcpt(message.to)
            step = Step.DATA
            reply = await client.data(email.as_bytes())
        except Exception as exc:  # noqa: BLE001 - every failure is classified by its step
            client.close()  # no QUIT: the relay may be the thing that stopped answering
            raise error_for(self.name, step, exc) from None
        with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
            await client.quit()  # the message is accepted; a failed goodbye changes nothing
        client.close()
        return SendResult(provider_message_id=message_id,
                          detail=redact_text(f"{reply.code} {reply.message}")[:200])
