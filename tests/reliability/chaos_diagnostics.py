"""What the chaos run reads from the outbox to explain itself: the notifications that did not
end sent (with their attempts and timeline) and how often each non-sent outcome was recorded.
No recipient is read."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hub.store.models import DeliveryAttempt, Notification, TimelineEntry

#: Statuses of a notification that reached its provider.
DELIVERED = ("sent", "delivered")
#: How many unfinished notifications the report details (all are counted).
UNFINISHED_SHOWN = 20


def _seconds(when: datetime | None, origin: float) -> float | None:
    return round(when.timestamp() - origin, 2) if when is not None else None


_COLUMNS = (Notification.id, Notification.channel, Notification.stage, Notification.status,
            Notification.attempts, Notification.last_error, Notification.provider,
            Notification.tried_providers, Notification.created_at, Notification.next_attempt_at,
            Notification.lease_until)


async def unfinished_notifications(session: AsyncSession, origin: float,
                                   limit: int = UNFINISHED_SHOWN) -> tuple[int, list[dict]]:
    """How many notifications did not end sent/delivered, and the first ``limit`` of them
    (dead letters first) with their delivery attempts; times are seconds since ``origin`` (the
    run's start, unix time). No recipient is read."""
    undelivered = Notification.status.notin_(DELIVERED)
    total = (await session.execute(select(func.count()).select_from(Notification)
                                   .where(undelivered))).scalar_one()
    rows = (await session.execute(
        select(*_COLUMNS).where(undelivered)
        .order_by((Notification.status == "dead").desc(), Notification.created_at)
        .limit(limit))).all()
    return total, await _described(session, rows, origin)


async def notifications_named(session: AsyncSession, ids: list[str], origin: float,
                              limit: int = UNFINISHED_SHOWN) -> list[dict]:
    """The first ``limit`` of the notifications ``ids``, described as
    :func:`unfinished_notifications` describes them (the unexplained duplicates' story)."""
    if not ids:
        return []
    rows = (await session.execute(select(*_COLUMNS).where(Notification.id.in_(ids[:limit]))
                                  .order_by(Notification.created_at))).all()
    return await _described(session, rows, origin)


async def _described(session: AsyncSession, rows: list, origin: float) -> list[dict]:
    """Each notification of ``rows`` with its delivery attempts and timeline."""
    attempts: dict[str, list[dict]] = {}
    history: dict[str, list[dict]] = {}
    if not rows:
        return []
    ids = [r.id for r in rows]
    for attempt in (await session.execute(
            select(DeliveryAttempt.notification_id, DeliveryAttempt.attempt_no,
                   DeliveryAttempt.provider, DeliveryAttempt.outcome, DeliveryAttempt.error,
                   DeliveryAttempt.started_at, DeliveryAttempt.duration_ms)
            .where(DeliveryAttempt.notification_id.in_(ids))
            .order_by(DeliveryAttempt.started_at, DeliveryAttempt.id))).all():
        attempts.setdefault(attempt.notification_id, []).append({
            "no": attempt.attempt_no, "provider": attempt.provider,
            "outcome": attempt.outcome, "error": attempt.error,
            "started_at": _seconds(attempt.started_at, origin),
            "ms": float(attempt.duration_ms)})
    for entry in (await session.execute(
            select(TimelineEntry.notification_id, TimelineEntry.outcome,
                   TimelineEntry.detail, TimelineEntry.occurred_at)
            .where(TimelineEntry.notification_id.in_(ids))
            .order_by(TimelineEntry.occurred_at, TimelineEntry.id))).all():
        detail = entry.detail or {}
        history.setdefault(entry.notification_id, []).append({
            "outcome": entry.outcome, "provider": detail.get("provider"),
            "error": detail.get("error") or detail.get("reason"),
            "at": _seconds(entry.occurred_at, origin)})
    return [{
        "id": row.id, "channel": row.channel, "stage": row.stage, "status": row.status,
        "attempts": row.attempts, "last_error": row.last_error, "provider": row.provider,
        "tried_providers": row.tried_providers, "created_at": _seconds(row.created_at, origin),
        "next_attempt_at": _seconds(row.next_attempt_at, origin),
        "lease_until": _seconds(row.lease_until, origin),
        "delivery_attempts": attempts.get(row.id, []),
        "timeline": history.get(row.id, [])[:40],
    } for row in rows]


async def outcome_summary(session: AsyncSession, limit: int = 15) -> dict[str, int]:
    """How often each outcome other than ``sent`` was recorded for a notification, with its
    error (shortened): the retries, unknown outcomes and failures of the whole run."""
    counts: Counter = Counter()
    for outcome, detail in (await session.execute(
            select(TimelineEntry.outcome, TimelineEntry.detail).where(
                TimelineEntry.kind == "notification",
                TimelineEntry.outcome.notin_(("sent", "planned"))))).all():
        error = (detail or {}).get("error") or ""
        counts[f"{outcome}: {error[:90]}" if error else outcome] += 1
    return dict(counts.most_common(limit))
