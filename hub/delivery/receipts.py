"""Provider status webhooks: recording delivery receipts against our notifications.

A receipt is matched to its notification by our own message id (echoed back by the provider)
or by the provider's message id. Repeated receipts are ignored; a later receipt never moves a
notification back (a "deferred" arriving after "delivered" changes nothing).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import and_, or_, select

from hub import consent
from hub.delivery.engagement import record_engagement
from hub.delivery.fallback import FAILED_FOR_GOOD, plan_fallback
from hub.domain.outcome import STATUS_RANK
from hub.messages import DeliveryStatus
from hub.store.dialect import insert_ignoring_conflicts, lock_for_update
from hub.store.models import Customer, DeliveryReceipt, Notification, TimelineEntry
from hub.store.models_consent import CONSENT_CHANNELS

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from hub.domain.planner import Planner
    from hub.messages import StatusUpdate
    from hub.store.codec import EventCodec

#: Notification status a receipt moves to, and how final it is (higher wins).
_RECEIPT_STATE: dict[DeliveryStatus, tuple[str, int]] = {
    DeliveryStatus.ACCEPTED: ("sent", 1),
    DeliveryStatus.DEFERRED: ("sent", 1),
    DeliveryStatus.DELIVERED: ("delivered", 3),
    DeliveryStatus.OPENED: ("delivered", 3),
    DeliveryStatus.CLICKED: ("delivered", 3),
    DeliveryStatus.BOUNCED: ("bounced", 4),
    DeliveryStatus.FAILED: ("failed", 4),
    DeliveryStatus.COMPLAINED: ("delivered", 3),
    DeliveryStatus.UNSUBSCRIBED: ("delivered", 3),
    DeliveryStatus.RESUBSCRIBED: ("delivered", 3),
    DeliveryStatus.REPLIED: ("sent", 0),  # names no message: never moves one
}
#: Channel whose preference an unsubscribe receipt turns off, by provider channel.
_UNSUBSCRIBE_CHANNEL = {"sms": "sms", "email": "email"}


def receipt_event_id(update: StatusUpdate) -> str:
    """The provider's event id, or a stable digest when the provider gives none."""
    if update.event_id:
        return update.event_id[:255]
    key = "|".join([update.message_id or "", update.provider_message_id or "",
                    update.status.value, update.occurred_at.isoformat()])
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


class ReceiptRecorder:
    """Writes receipts and moves notifications forward; see the module docstring."""

    def __init__(self, codec: EventCodec, planner: Planner) -> None:
        self.codec = codec
        self.planner = planner

    async def record(self, session: AsyncSession, provider: str, channel: str,
                     updates: list[StatusUpdate], now: datetime) -> int:
        """Record ``updates`` from ``provider``; returns how many were new."""
        await self._lock_targets(session, provider, updates)
        new = 0
        for update in updates:
            event_id = receipt_event_id(update)
            notification = await self._find(session, provider, update)
            inserted = await session.execute(
                insert_ignoring_conflicts(session, DeliveryReceipt.__table__, "provider",
                                          "event_id").values(
                    provider=provider, event_id=event_id,
                    notification_id=notification.id if notification else None,
                    provider_message_id=update.provider_message_id,
                    status=update.status.value, reason=update.reason or None,
                    occurred_at=update.occurred_at, received_at=now,
                    raw_enc=self.codec.encode_json(update.raw)))
            if not inserted.rowcount:
                continue  # a repeat of a receipt we already have
            new += 1
            await record_engagement(session, provider, channel, notification, update, now,
                                    self.codec.cipher)
            if update.status in (DeliveryStatus.UNSUBSCRIBED, DeliveryStatus.RESUBSCRIBED) \
                    and update.recipient:
                await self._set_preference(
                    session, _UNSUBSCRIBE_CHANNEL.get(channel, channel), update.recipient,
                    update.status is DeliveryStatus.RESUBSCRIBED, now)
            if notification is not None and self._advance(session, notification, update, now):
                if notification.status in FAILED_FOR_GOOD:
                    await plan_fallback(session, self.planner, notification,
                                        notification.last_error or notification.status, now)
        return new

    async def _lock_targets(self, session: AsyncSession, provider: str,
                            updates: list[StatusUpdate]) -> None:
        """Load (and on PostgreSQL lock) every notification the batch may name, in id order:
        the order a worker's outcome writer locks them in. Locking them one by one in the
        provider's order deadlocked against it (a batch of receipts for messages whose
        outcomes were still being written)."""
        ids = {u.message_id for u in updates if u.message_id}
        provider_ids = {u.provider_message_id for u in updates if u.provider_message_id}
        named = []
        if ids:
            named.append(Notification.id.in_(ids))
        if provider_ids:
            named.append(and_(Notification.provider == provider,
                              Notification.provider_message_id.in_(provider_ids)))
        if named:
            query = select(Notification).where(or_(*named)).order_by(Notification.id)
            await session.execute(lock_for_update(session, query))

    async def _find(self, session: AsyncSession, provider: str,
                    update: StatusUpdate) -> Notification | None:
        if update.message_id:
            found = await session.get(Notification, update.message_id)
            if found is not None:
                return found
        if update.provider_message_id:
            return (await session.execute(select(Notification).where(
                Notification.provider == provider,
                Notification.provider_message_id == update.provider_message_id).limit(1))
            ).scalar_one_or_none()
        return None

    def _advance(self, session: AsyncSession, notification: Notification, update: StatusUpdate,
                 now: datetime) -> bool:
        """Move the notification forward; False when the receipt changes nothing."""
        target, rank = _RECEIPT_STATE[update.status]
        if rank <= STATUS_RANK.get(notification.status, 0):
            return False
        notification.status = target
        notification.receipt_due_at = None
        if target == "delivered":
            notification.delivered_at = update.occurred_at
        if target in ("bounced", "failed"):
            notification.last_error = f"{update.status.value}: {update.reason}"[:500]
        session.add(TimelineEntry(
            return_id=notification.return_id, kind="notification", outcome=target,
            notification_id=notification.id,
            detail={"channel": notification.channel, "receipt": update.status.value,
                    **({"reason": update.reason[:200]} if update.reason else {})},
            occurred_at=update.occurred_at, recorded_at=now))
        return True

    async def _set_preference(self, session: AsyncSession, channel: str, address: str,
                              enabled: bool, now: datetime) -> None:
        """Opt every customer with this address in or out of ``channel``."""
        digest = self.codec.cipher.lookup_hash(address)
        column = Customer.phone_hash if channel == "sms" else Customer.email_hash
        for customer in (await session.execute(select(Customer).where(column == digest))).scalars():
            customer.preferences = {**(customer.preferences or {}), channel: enabled}
            customer.updated_at = now
            if channel in CONSENT_CHANNELS:  # marketing consent follows (docs/consent.md)
                await consent.follow_keyword(session, customer.id, channel, enabled, now)
