"""Leases: how workers claim rows so that no two deliver the same work, and a crashed worker's
rows are taken over once its lease runs out.

A claim is one statement where the backend allows it (see
:func:`hub.store.dialect.claim_style`): claims are small and frequent, and on PostgreSQL
every statement is a round trip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    CompoundSelect,
    Select,
    Table,
    bindparam,
    func,
    literal,
    select,
    union_all,
    update,
)

from hub.store.bulk import execute_many
from hub.store.dialect import claim_style, lock_skip_locked
from hub.store.engine import quick_reader, reading
from hub.store.models_base import UtcDateTime
from hub.store.quick_reads import prepare

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy import ColumnElement, Row, Update
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

#: A ``ready`` written with mapped attributes makes the UPDATE an ORM one: leave the session's
#: objects alone (claims never touch loaded entities).
_NO_SYNC = {"synchronize_session": False}
#: The label of the ordering column added to the claimed rows (to sort them in Python).
_ORDER = "claimed_order"


class ReadyProbe:
    """Whether a claim of ``table``'s rows matching ``ready(now)`` could find one: asked
    before every claim, so that a poll finding nothing never takes the write lock every
    writer queues on. On a SQLite file it is one indexed read of the last commit on the
    loop's thread (:mod:`hub.store.quick_reads`), its statement compiled once with ``now`` as
    a parameter; on a SQLite engine not made by :func:`hub.store.engine.make_engine`, through
    a snapshot session (:func:`hub.store.engine.reading`); elsewhere the claim itself is as
    cheap as the question (the answer is always yes)."""

    def __init__(self, sessions: async_sessionmaker, table: Table,
                 ready: Callable[[Any], ColumnElement[bool]]) -> None:
        self.sessions = sessions
        engine = sessions.kw["bind"]
        self._asks = engine.dialect.name == "sqlite"
        # A value, never used, so that the statement compiles with its IN lists written out.
        now = bindparam("now", value=datetime.min.replace(tzinfo=UTC), type_=UtcDateTime())
        self._statement = select(literal(1)).select_from(table).where(ready(now)).limit(1)
        self._reader = quick_reader(engine)
        self._prepared = (prepare(self._statement, engine.dialect, frozenset({"now"}))
                          if self._reader is not None else None)

    async def __call__(self, now: datetime) -> bool:
        """Whether a claim made at ``now`` could find a row (True when it cannot be told)."""
        if not self._asks:
            return True
        if self._reader is not None and self._prepared is not None:
            return self._reader.first(self._prepared, {"now": now}) is not None
        async with reading(self.sessions) as session:
            found = await session.execute(self._statement, {"now": now})
            return found.first() is not None


def lease_end(now: datetime, lease_seconds: float) -> datetime:
    """The lease end a claim made at ``now`` writes on the rows it takes."""
    return now + timedelta(seconds=lease_seconds)


def release_statement(table: Table, *still: ColumnElement[bool], **values: Any) -> Update:
    """The statement that gives back one lease: the row ``:row_id`` if its lease still ends
    at ``:lease_end`` (otherwise a claim took it over since) and ``still`` holds; it sets
    ``values`` and clears the lease. Built once per table, run by :func:`release`."""
    return update(table).where(
        table.c.id == bindparam("row_id"),
        table.c.lease_until == bindparam("lease_end", type_=table.c.lease_until.type),
        *still,
    ).values(**values, lease_owner=None, lease_until=None)


async def release(session: AsyncSession, statement: Update,
                  leases: list[tuple[datetime, Any]]) -> None:
    """Give back ``leases`` (lease end, row id) with a :func:`release_statement`: one
    executemany."""
    if leases:
        await execute_many(session, statement, [{"row_id": row_id, "lease_end": lease_until}
                                                for lease_until, row_id in leases])


async def claim(session: AsyncSession, model: Any, *, ready: ColumnElement[bool],
                order_by: Any, limit: int, owner: str, lease_seconds: float, now: datetime,
                values: dict[str, Any] | None = None, columns: tuple[Any, ...] | None = None,
                rank: Any = None, ahead: tuple[ColumnElement[bool], int] | None = None
                ) -> list[Any]:
    """Lease up to ``limit`` rows of ``model`` matching ``ready`` to ``owner``; return their ids
    (or, with ``columns``, the first of which is the id, those columns of each row as they
    were before the claim), in ``order_by`` order (a non-null column, ascending).

    Which rows: those first by ``rank`` (an expression, ascending), then ``order_by``. With
    ``ahead`` (a condition narrower than ``ready``, and a count), up to that many rows matching
    it come first, in ``order_by`` order, whatever their rank; still one statement.

    On PostgreSQL the candidate rows are locked with SKIP LOCKED so concurrent workers take
    different rows; on SQLite the write transaction is exclusive already.
    """
    table: Table = model.__table__
    changes = {"lease_owner": owner, "lease_until": lease_end(now, lease_seconds),
               **(values or {})}
    # Labelled apart from the table's own names: SQLite renders RETURNING unqualified.
    wanted = [column.label(f"claimed_{n}") for n, column in enumerate(columns or (table.c.id,))]
    ordered = (order_by,) if rank is None else (rank, order_by)
    candidates: Select | CompoundSelect
    if ahead is not None and min(ahead[1], limit) > 0:
        candidates = _ahead_then_rest(session, table, wanted, order_by, ordered, ready,
                                      ahead[0], min(ahead[1], limit), limit)
    else:
        candidates = lock_skip_locked(session, select(*wanted, order_by.label(_ORDER))
                                      .where(ready).order_by(*ordered).limit(limit))
    style = claim_style(session)
    if style == "update_from":
        rows = await _update_from(session, table, candidates, changes)
    elif style == "cte":
        rows = await _update_with_cte(session, table, candidates, changes)
    else:
        rows = await _select_then_update(session, table, candidates, changes)
    rows.sort(key=lambda row: row[-1])  # UPDATE ... RETURNING returns rows in any order
    return [tuple(row[:-1]) for row in rows] if columns else [row[0] for row in rows]


def _ahead_then_rest(session: AsyncSession, table: Table, wanted: list[Any], order_by: Any,
                     ordered: tuple[Any, ...], ready: ColumnElement[bool],
                     ahead: ColumnElement[bool], first: int, limit: int) -> CompoundSelect:
    """``WITH ahead AS MATERIALIZED (SELECT ... WHERE ahead LIMIT first) SELECT * FROM ahead
    UNION ALL SELECT * FROM (SELECT ... WHERE ready AND id NOT IN ahead LIMIT limit - count
    of ahead)``. Each part locks its own rows and states its whole condition on the table it
    locks, so that PostgreSQL rechecks it on a row another worker claimed meanwhile."""
    picked = lock_skip_locked(session, select(*wanted, order_by.label(_ORDER)).where(ahead)
                              .order_by(order_by).limit(first)).cte("ahead")
    picked = picked.prefix_with("MATERIALIZED")  # read three times: computed (and locked) once
    left = limit - select(func.count()).select_from(picked).scalar_subquery()
    # A subquery, not a bare member: SQLite takes no ORDER BY or LIMIT on a compound's member.
    rest = lock_skip_locked(session, select(*wanted, order_by.label(_ORDER)).where(
        ready, table.c.id.notin_(select(picked.c[0]))).order_by(*ordered).limit(left)
    ).subquery("rest")
    return union_all(select(*picked.c), select(*rest.c))


async def _update_from(session: AsyncSession, table: Table,
                       candidates: Select | CompoundSelect, changes: dict[str, Any]) -> list[Row]:
    """``UPDATE t SET ... FROM (SELECT ... FOR UPDATE SKIP LOCKED) AS c WHERE t.id = c.id
    RETURNING c.*``: the subquery's columns are the rows as they were before the update."""
    claimed = candidates.subquery("claimed")
    prior = list(claimed.c)
    statement = (update(table).where(table.c.id == prior[0]).values(changes)
                 .returning(*prior).execution_options(**_NO_SYNC))
    return list((await session.execute(statement)).all())


async def _update_with_cte(session: AsyncSession, table: Table,
                           candidates: Select | CompoundSelect, changes: dict[str, Any]
                           ) -> list[Row]:
    """SQLite's RETURNING sees only the updated table, as updated: the prior values are read
    back from a materialized CTE, computed once before any row changes (the UPDATE's WHERE
    needs it first)."""
    claimed = candidates.cte("claimed").prefix_with("MATERIALIZED")
    claimed_id, *rest = claimed.c
    prior = [select(column).where(claimed_id == table.c.id).scalar_subquery()
             for column in rest]
    statement = (update(table).where(table.c.id.in_(select(claimed_id))).values(changes)
                 .returning(table.c.id, *prior).execution_options(**_NO_SYNC))
    return list((await session.execute(statement)).all())


async def _select_then_update(session: AsyncSession, table: Table,
                              candidates: Select | CompoundSelect, changes: dict[str, Any]
                              ) -> list[Row]:
    rows = list((await session.execute(candidates)).all())
    if rows:
        await session.execute(
            update(table).where(table.c.id.in_([row[0] for row in rows])).values(changes)
            .execution_options(**_NO_SYNC))
    return rows
