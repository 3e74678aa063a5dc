"""Reading the hub's database after (or near the end of) a run, through the hub's own table
definitions so that timestamps come back timezone-aware on SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from hub.store.models import (
    DeliveryAttempt,
    DeliveryReceipt,
    InboxEvent,
    Notification,
    Return,
)


@dataclass(frozen=True, slots=True)
class NotificationRow:
    """One planned message and what became of it."""

    id: str
    return_ref: str
    status: str
    event_received_at: datetime
    sent_at: datetime | None


@dataclass(slots=True)
class HubFacts:
    """What the database says about a run."""

    inbox_ids: list[str]
    inbox_by_status: dict[str, int]
    notifications: list[NotificationRow]
    accepted_attempts: dict[str, int]  #: notification id → accepted provider calls
    #: notification id → when the hub recorded the provider's ``delivered`` status webhook
    receipts: dict[str, datetime]


async def _query(url: str, statement, scalar: bool = False):  # noqa: ANN001, ANN202
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            result = await connection.execute(statement)
            return result.scalar() if scalar else result.all()
    finally:
        await engine.dispose()


#: Statuses of a notification the provider accepted (``delivered``: its receipt came too).
ACCEPTED_STATUSES = ("sent", "delivered")


def sent_count(url: str) -> int:
    """Notifications whose acceptance by the provider the hub has committed."""
    return int(asyncio.run(_query(
        url, select(func.count()).select_from(Notification).where(
            Notification.status.in_(ACCEPTED_STATUSES)), scalar=True)) or 0)


def delivered_count(url: str) -> int:
    """Notifications whose ``delivered`` status webhook the hub has recorded."""
    return int(asyncio.run(_query(
        url, select(func.count()).select_from(Notification).where(
            Notification.status == "delivered"), scalar=True)) or 0)


def read_facts(url: str) -> HubFacts:
    """Everything the report needs from the database, in one connection."""

    async def read() -> HubFacts:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as connection:
                inbox = (await connection.execute(
                    select(InboxEvent.source_event_id, InboxEvent.status))).all()
                notifications = (await connection.execute(
                    select(Notification.id, Return.external_id, Notification.status,
                           Notification.event_received_at, Notification.sent_at)
                    .join(Return, Return.id == Notification.return_id))).all()
                attempts = (await connection.execute(
                    select(DeliveryAttempt.notification_id, func.count())
                    .where(DeliveryAttempt.outcome == "accepted")
                    .group_by(DeliveryAttempt.notification_id))).all()
                receipts = (await connection.execute(
                    select(DeliveryReceipt.notification_id, func.min(DeliveryReceipt.received_at))
                    .where(DeliveryReceipt.status == "delivered",
                           DeliveryReceipt.notification_id.is_not(None))
                    .group_by(DeliveryReceipt.notification_id))).all()
        finally:
            await engine.dispose()
        by_status: dict[str, int] = {}
        for _, status in inbox:
            by_status[status] = by_status.get(status, 0) + 1
        return HubFacts(
            inbox_ids=[event_id for event_id, _ in inbox], inbox_by_status=by_status,
            notifications=[NotificationRow(*row) for row in notifications],
            accepted_attempts={notification_id: count for notification_id, count in attempts},
            receipts={notification_id: at for notification_id, at in receipts})

    return asyncio.run(read())
