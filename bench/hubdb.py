"""Reading the hub's database after (or near the end of) a run, through the hub's own table
definitions so that timestamps come back timezone-aware on SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from hub.store.models import DeliveryAttempt, InboxEvent, Notification, Return


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


async def _query(url: str, statement, scalar: bool = False):  # noqa: ANN001, ANN202
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            result = await connection.execute(statement)
            return result.scalar() if scalar else result.all()
    finally:
        await engine.dispose()


def sent_count(url: str) -> int:
    """Notifications whose outcome (sent) the hub has committed."""
    return int(asyncio.run(_query(
        url, select(func.count()).select_from(Notification).where(
            Notification.status == "sent"), scalar=True)) or 0)


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
        finally:
            await engine.dispose()
        by_status: dict[str, int] = {}
        for _, status in inbox:
            by_status[status] = by_status.get(status, 0) + 1
        return HubFacts(
            inbox_ids=[event_id for event_id, _ in inbox], inbox_by_status=by_status,
            notifications=[NotificationRow(*row) for row in notifications],
            accepted_attempts={notification_id: count for notification_id, count in attempts})

    return asyncio.run(read())
