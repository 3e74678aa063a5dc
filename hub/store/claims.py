"""Leases: how workers claim rows so that no two deliver the same work, and a crashed worker's
rows are taken over once its lease runs out."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from hub.store.dialect import lock_skip_locked

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement
    from sqlalchemy.ext.asyncio import AsyncSession


async def claim(session: AsyncSession, model: Any, *, ready: ColumnElement[bool],
                order_by: Any, limit: int, owner: str, lease_seconds: float, now: datetime,
                values: dict[str, Any] | None = None, columns: tuple[Any, ...] | None = None
                ) -> list[Any]:
    """Lease up to ``limit`` rows of ``model`` matching ``ready`` to ``owner``; return their ids
    (or, with ``columns``, those columns of each row as they were before the claim).

    On PostgreSQL the candidate rows are locked with SKIP LOCKED so concurrent workers take
    different rows; on SQLite the write transaction is exclusive already.
    """
    query = select(*(columns or (model.id,))).where(ready).order_by(order_by).limit(limit)
    rows = (await session.execute(lock_skip_locked(session, query))).all()
    ids = [row[0] for row in rows]
    if ids:
        await session.execute(
            update(model).where(model.id.in_(ids)).values(
                lease_owner=owner, lease_until=now + timedelta(seconds=lease_seconds),
                **(values or {})).execution_options(synchronize_session=False))
    return [tuple(row) for row in rows] if columns else ids
