"""Fallback channels: when a notification fails for good or bounces, the same stage goes out
on the next channel of the stage's ``fallback`` list (SMS, then the portal), respecting the
customer's preferences. The idempotency key still holds per channel, so a customer is told once
per stage and channel however many providers failed."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from hub.domain.customers import contact_of
from hub.domain.outcome import FAILED_FOR_GOOD
from hub.store.dialect import insert_ignoring_conflicts
from hub.store.models import Customer, Notification, Return, TimelineEntry

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from hub.domain.planner import Planner

__all__ = ["FAILED_FOR_GOOD", "plan_fallback"]


async def plan_fallback(session: AsyncSession, planner: Planner, notification: Notification,
                        reason: str, now: datetime) -> str | None:
    """Plan the stage on the next reachable fallback channel; returns the new notification id
    (None when there is no further channel, the return has moved on from the stage, or the
    customer cannot be reached on any)."""
    chain = planner.fallback_after(notification.stage, notification.channel)
    if not chain:
        return None
    ret = await session.get(Return, notification.return_id)

    def note(outcome: str, channel: str, about: str, why: str) -> None:
        session.add(TimelineEntry(
            return_id=ret.id, kind="notification", outcome=outcome, notification_id=about,
            detail={"channel": channel, "stage": notification.stage, "after": notification.id,
                    "reason": why[:300]}, occurred_at=now, recorded_at=now))

    withheld = planner.fallback_withheld(notification.stage, ret.state)
    if withheld is not None:
        note("fallback_skipped", chain[0], notification.id, withheld)
        return None
    customer = await session.get(Customer, ret.customer_id) if ret.customer_id else None
    contact = contact_of(customer, planner.cipher)
    for channel in chain:
        planned = planner.plan(
            return_id=ret.id, cycle=ret.cycle, stage=notification.stage, contact=contact,
            customer_key=customer.identity if customer else None,
            inbox_event_id=notification.inbox_event_id,
            event_received_at=notification.event_received_at, now=now, channels=[channel],
            fallback_of=notification.id)[0]
        if planned.row is None:
            note("fallback_skipped", channel, notification.id,
                 planned.skipped_reason or reason)
            continue
        note("fallback_planned", channel, planned.row["id"], reason)
        inserted = await session.execute(insert_ignoring_conflicts(
            session, Notification.__table__, "idempotency_key").values(**planned.row))
        return planned.row["id"] if inserted.rowcount else None
    return None
