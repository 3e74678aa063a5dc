"""``portal`` sink: stores each message as an in-app notice in the hub's own database.

The customer portal (``/portal/...``) shows a return's notices with their read state. Storing
is idempotent (unique per message id), so a retried message is stored once. The text is
encrypted at rest like all customer-facing data.

This sink is core code: the hub hands it the store with :meth:`PortalSink.bind_store` (only
this class; the plugin context gives a plugin neither the database nor the cipher).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hub.connectors import ConnectorSettings, Sink
from hub.errors import ProviderUnavailable, RecipientRefused
from hub.messages import SendResult
from hub.store.dialect import insert_ignoring_conflicts
from hub.store.engine import utcnow
from hub.store.models import PortalMessage

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from hub.messages import OutboundMessage
    from hub.security import PiiCipher


class PortalSettings(ConnectorSettings):
    """The portal sink has no settings."""


class PortalSink(Sink):
    """Writes ``portal_messages`` rows; the recipient is the customer's key."""

    type = "portal"
    channels = frozenset({"portal"})
    idempotent = True
    Config = PortalSettings

    _sessionmaker: async_sessionmaker[AsyncSession] | None = None
    _cipher: PiiCipher | None = None

    def bind_store(self, sessionmaker: async_sessionmaker[AsyncSession],
                   cipher: PiiCipher) -> None:
        """Give the sink the hub's database and PII cipher (the runtime does, before start)."""
        self._sessionmaker = sessionmaker
        self._cipher = cipher

    async def start(self) -> None:
        """Check the hub gave this sink its database."""
        if self._sessionmaker is None or self._cipher is None:
            raise RuntimeError("the portal sink needs the hub's database and cipher")

    async def send(self, message: OutboundMessage) -> SendResult:
        """Store the notice (once per message id)."""
        reference = message.metadata.get("return")
        if not reference:
            raise RecipientRefused("the message names no return", provider=self.name)
        assert self._sessionmaker is not None and self._cipher is not None  # noqa: S101 (start)
        row: dict[str, Any] = {
            "notification_id": message.message_id, "return_ref": reference,
            "customer_key": message.to, "stage": message.metadata.get("stage"),
            "subject": message.subject,
            "body_enc": self._cipher.encrypt(message.text), "created_at": utcnow(),
        }
        try:
            async with self._sessionmaker() as session, session.begin():
                await session.execute(insert_ignoring_conflicts(
                    session, PortalMessage.__table__, "notification_id").values(**row))
        except Exception as exc:  # database unavailable: retry later
            raise ProviderUnavailable(f"cannot store the notice ({type(exc).__name__})",
                                      provider=self.name) from None
        return SendResult(provider_message_id=message.message_id, status="delivered")
