"""Merging two returns found to be one (issue 16): the older one is kept and takes the other's
timeline, notifications, rule actions, portal views and references; the other row is deleted.

Nothing is sent twice: notification and rule-action idempotency keys start with the return's
id, so the absorbed ones are re-keyed onto the kept return; where the kept return already has
the same key (the same stage, channel and recipient, planned from each side), one that no
provider call has started for is skipped and the other keeps the history.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, literal, select, update

from hub.events import STATE_RANK, ReturnState
from hub.store import references
from hub.store.dialect import lock_for_update
from hub.store.models import (
    Notification,
    PortalView,
    Return,
    RuleAction,
    TimelineEntry,
)

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy import Table
    from sqlalchemy.ext.asyncio import AsyncSession

_RETURNS: Table = Return.__table__
#: Columns the kept return takes from the absorbed one when it has no value itself.
FILLED = ("order_ref", "order_number", "customer_id", "reason", "currency", "order_total",
          "refund_amount", "refund_method", "carrier", "tracking_number", "tracking_url",
          "label_url", "details_enc")


async def merge(session: AsyncSession, keep_id: int, gone_id: int, now: datetime,
                why: dict[str, Any]) -> None:
    """Merge return ``gone_id`` into ``keep_id`` inside the caller's transaction. ``why``
    (references' kinds, the inbox event) goes on the kept return's timeline."""
    statement = lock_for_update(session, select(_RETURNS).where(
        _RETURNS.c.id.in_([keep_id, gone_id])).order_by(_RETURNS.c.id))
    rows = {row["id"]: row for row in (await session.execute(statement)).mappings()}
    keep, gone = rows[keep_id], rows[gone_id]
    await session.execute(update(_RETURNS).where(_RETURNS.c.id == keep_id)
                          .values(**merged_values(keep, gone, now)))
    await _rekey(session, Notification.__table__, keep_id, gone_id, skip_status="skipped")
    await _rekey(session, RuleAction.__table__, keep_id, gone_id, skip_status="skipped")
    for table in (TimelineEntry.__table__, PortalView.__table__):
        await session.execute(update(table).where(table.c.return_id == gone_id)
                              .values(return_id=keep_id))
    await references.move(session, gone_id, keep_id)
    await session.execute(delete(_RETURNS).where(_RETURNS.c.id == gone_id))
    await session.execute(insert(TimelineEntry.__table__).values(
        return_id=keep_id, kind="identity", outcome="merged", event_type=None,
        from_state=gone["state"] or None, to_state=None, inbox_event_id=why.get("inbox_event_id"),
        notification_id=None, occurred_at=now, recorded_at=now,
        detail={"merged_return_id": gone_id, "source": gone["source"],
                "external_id": gone["external_id"], **why}))


def _not_started(status: str, send_started_at: Any) -> bool:
    """Whether a row can still be called off: pending, or taken by a worker (claimed or handed
    off) that has not recorded a send intent. Clearing its lease stops that worker: the intent
    it must record before the provider call needs the lease (hub.delivery.intent)."""
    return status == "pending" or (status == "sending" and send_started_at is None)


def merged_values(keep: Any, gone: Any, now: datetime) -> dict[str, Any]:
    """The kept return's new columns: the further state, the higher cycle, the newest event
    time, and the other's values where the kept one has none."""
    values: dict[str, Any] = {name: gone[name] for name in FILLED
                              if keep[name] is None and gone[name] is not None}
    if _rank(gone["state"]) > _rank(keep["state"]):
        values["state"] = gone["state"]
    values["cycle"] = max(keep["cycle"], gone["cycle"])
    starts = [t for t in (keep["cycle_started_at"], gone["cycle_started_at"]) if t is not None]
    values["cycle_started_at"] = max(starts) if starts else None
    values["exception_flag"] = bool(keep["exception_flag"] or gone["exception_flag"])
    times = [t for t in (keep["last_event_at"], gone["last_event_at"]) if t is not None]
    values["last_event_at"] = max(times) if times else None
    values["updated_at"] = now
    return values


def _rank(state: str | None) -> int:
    try:
        return STATE_RANK[ReturnState(state)]
    except ValueError:
        return -1


async def _rekey(session: AsyncSession, table: Table, keep_id: int, gone_id: int, *,
                 skip_status: str) -> None:
    """Move ``gone_id``'s rows of ``table`` to ``keep_id``, their ``<return id>:`` key prefix
    with them; of two rows then sharing a key, one not started yet is skipped (see
    :func:`_not_started`), its lease cleared so that no provider call starts for it."""
    started = table.c.get("send_started_at")
    columns = (table.c.id, table.c.idempotency_key, table.c.status,
               started if started is not None else literal(None))
    # Locked (PostgreSQL) as read: a worker's send intent, which takes the row's lock, either
    # committed before (the row counts as started) or waits and then finds its lease gone.
    kept = {key: (row_id, _not_started(status, began)) for row_id, key, status, began in (
        await session.execute(lock_for_update(session, select(*columns).where(
            table.c.return_id == keep_id).order_by(table.c.id)))).all()}
    moving = (await session.execute(lock_for_update(session, select(*columns).where(
        table.c.return_id == gone_id).order_by(table.c.id)))).all()
    prefix = f"{gone_id}:"
    cancelled = {"status": skip_status, "lease_owner": None, "lease_until": None}
    for row_id, key, status, began in moving:
        new_key = f"{keep_id}:{key[len(prefix):]}" if key.startswith(prefix) else key
        values: dict[str, Any] = {"return_id": keep_id, "idempotency_key": new_key}
        twin = kept.get(new_key)
        if twin is not None:
            values["idempotency_key"] = f"merged:{key}"[:255]
            twin_id, twin_not_started = twin
            if _not_started(status, began):
                values.update(cancelled,
                              last_error=f"merged into return {keep_id}, which had it already")
            elif twin_not_started:
                await session.execute(update(table).where(table.c.id == twin_id).values(
                    **cancelled,
                    last_error=f"return {gone_id}, merged into this one, had it already"))
        await session.execute(update(table).where(table.c.id == row_id).values(**values))
