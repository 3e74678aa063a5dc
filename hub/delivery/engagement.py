"""Engagement from provider status webhooks: opens, clicks, unsubscribes, spam reports and
SMS replies, one row per (notification, kind) in ``message_engagement`` (docs/engagement.md).

The receipt recorder calls :func:`record_engagement` only for a receipt it had not seen (the
``delivery_receipts`` unique key dedupes the providers' repeats), so ``events`` counts distinct
provider events. An unsubscribe or spam report also withdraws the customer's marketing consent
on that channel (:func:`withdraw_marketing_consent`, through :mod:`hub.consent`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import case, literal, select, update

from hub import consent
from hub.messages import DeliveryStatus
from hub.store.dialect import insert_ignoring_conflicts
from hub.store.models import Notification, Return, UtcDateTime
from hub.store.models_consent import CONSENT_CHANNELS
from hub.store.models_engagement import MessageEngagement

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncSession

    from hub.messages import StatusUpdate
    from hub.security import PiiCipher

#: Receipt status → engagement kind.
ENGAGEMENT_KIND: dict[DeliveryStatus, str] = {
    DeliveryStatus.OPENED: "open",
    DeliveryStatus.CLICKED: "click",
    DeliveryStatus.UNSUBSCRIBED: "unsubscribe",
    DeliveryStatus.COMPLAINED: "complaint",
    DeliveryStatus.REPLIED: "reply",
}
#: Kinds that withdraw marketing consent, and the consent source they are recorded with.
CONSENT_SOURCE = {"unsubscribe": "unsubscribe", "complaint": "spam_report"}


async def record_engagement(session: AsyncSession, provider: str, channel: str,
                            notification: Notification | None, update_: StatusUpdate,
                            now: datetime, cipher: PiiCipher) -> str | None:
    """Count a new receipt as engagement with ``notification``; returns the kind (None when
    the receipt is no engagement or names no message). A reply names none: it counts for the
    last message this provider sent the sender on ``channel`` before it."""
    kind = ENGAGEMENT_KIND.get(update_.status)
    if kind is None:
        return None
    if notification is None and kind == "reply" and update_.recipient:
        notification = await replied_to(session, provider, channel,
                                        cipher.lookup_hash(update_.recipient),
                                        update_.occurred_at)
    if notification is None:
        return None
    at = update_.occurred_at
    inserted = await session.execute(
        insert_ignoring_conflicts(session, MessageEngagement.__table__, "notification_id",
                                  "kind").values(
            notification_id=notification.id, kind=kind, provider=provider, first_at=at,
            last_at=at, events=1))
    if not inserted.rowcount:
        # One statement, so concurrent webhook batches about one message never lose a count.
        table = MessageEngagement
        at_ = literal(at, UtcDateTime())
        await session.execute(update(table).where(
            table.notification_id == notification.id, table.kind == kind).values(
            events=table.events + 1,
            first_at=case((table.first_at > at_, at_), else_=table.first_at),
            last_at=case((table.last_at < at_, at_), else_=table.last_at)))
    if kind in CONSENT_SOURCE:
        await withdraw_marketing_consent(session, notification, kind, now)
    return kind


async def replied_to(session: AsyncSession, provider: str, channel: str,
                     recipient_hash: str | None, at: datetime) -> Notification | None:
    """The last message ``provider`` sent to ``recipient_hash`` on ``channel`` before ``at``."""
    if recipient_hash is None:
        return None
    return (await session.execute(select(Notification).where(
        Notification.recipient_hash == recipient_hash, Notification.channel == channel,
        Notification.provider == provider, Notification.sent_at <= at)
        .order_by(Notification.sent_at.desc()).limit(1))).scalar_one_or_none()


async def withdraw_marketing_consent(session: AsyncSession, notification: Notification,
                                     kind: str, now: datetime) -> None:
    """A provider's unsubscribe or spam report withdraws the customer's marketing consent on
    the message's channel (:mod:`hub.consent`, source ``unsubscribe`` or ``spam_report``).
    Transactional messages (the channel preference) are left alone: a spam report on a refund
    email is no reason to stop telling the customer about their refund."""
    if notification.channel not in CONSENT_CHANNELS:
        return
    customer_id = (await session.execute(select(Return.customer_id).where(
        Return.id == notification.return_id))).scalar_one_or_none()
    if customer_id is not None:
        await consent.record(session, customer_id, notification.channel, False,
                             CONSENT_SOURCE[kind], now)
