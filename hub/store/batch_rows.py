"""Rows as plain attributes, read and written with Core statements: what the ORM's unit of
work did for the batch applier, without its instrumentation, identity map and flush
machinery (the applier is the hub's hottest path)."""

from __future__ import annotations

from functools import cache
from itertools import groupby
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, insert, update

from hub.store.bulk import execute_many, execute_returning
from hub.store.dialect import insert_ignoring_conflicts, lock_for_update
from hub.store.direct_reads import fetch

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from sqlalchemy import Table
    from sqlalchemy.ext.asyncio import AsyncSession


class RowState:
    """One row of a table as plain attributes (its columns), remembering the values it was
    loaded with so that only changed columns are written back."""

    __slots__ = ("__dict__", "_loaded")

    def __init__(self, values: dict[str, Any], *, new: bool = False) -> None:
        self.__dict__.update(values)
        self._loaded = None if new else dict(values)

    @property
    def is_new(self) -> bool:
        """Whether the row is not in the database yet."""
        return self._loaded is None

    def changes(self) -> dict[str, Any]:
        """The columns whose value differs from the loaded one."""
        loaded = self._loaded
        return {key: value for key, value in self.__dict__.items() if loaded[key] != value}

    def insert_values(self) -> dict[str, Any]:
        """Every column but the id, which the database assigns."""
        return {key: value for key, value in self.__dict__.items() if key != "id"}

    def mark_saved(self) -> None:
        """The current values are what the database holds now."""
        self._loaded = dict(self.__dict__)


def unique(rows: Iterable[RowState]) -> list[RowState]:
    """``rows`` without repeats (a row is indexed under several keys), in first-seen order."""
    return list({id(row): row for row in rows}.values())


async def fetch_locked(session: AsyncSession, query: Any,
                       params: dict[str, Any]) -> Sequence[Sequence[Any]]:
    """The rows of ``query`` (built once and kept) with ``FOR UPDATE`` where the backend has
    it, through :func:`hub.store.direct_reads.fetch` (straight on SQLite's connection in a
    write transaction)."""
    return await fetch(session, per_backend(session, query, lock_for_update), params)


async def locked_rows(session: AsyncSession, query: Any, params: dict[str, Any],
                      by_id: dict[int, RowState]) -> list[RowState]:
    """Run ``query`` with ``FOR UPDATE`` where the backend has it; a row already in ``by_id``
    is returned as that same object."""
    rows = []
    keys = tuple(query.selected_columns.keys())
    for found in await fetch_locked(session, query, params):
        values = dict(zip(keys, found, strict=True))
        row = by_id.get(values["id"])
        if row is None:
            row = by_id[values["id"]] = RowState(values)
        rows.append(row)
    return rows


#: Statements adapted to a backend (``FOR UPDATE``, ``ON CONFLICT``), by (what, backend).
_BACKEND_STATEMENTS: dict[tuple[Any, str], Any] = {}


def per_backend(session: AsyncSession, what: Any,
                adapt: Callable[[AsyncSession, Any], Any]) -> Any:
    """``adapt(session, what)``, built once per backend and reused."""
    key = (what, session.bind.dialect.name)
    statement = _BACKEND_STATEMENTS.get(key)
    if statement is None:
        statement = _BACKEND_STATEMENTS[key] = adapt(session, what)
    return statement


def insert_ignoring(session: AsyncSession, table: Table, *keys: str,
                    returning: tuple[str, ...] = ()) -> Any:
    """``INSERT ... ON CONFLICT (keys) DO NOTHING [RETURNING returning]`` into ``table``, built
    once per backend and kept (so that hub.store.bulk runs it straight on SQLite)."""
    return per_backend(session, (table, keys, returning), _build_insert_ignoring)


def _build_insert_ignoring(session: AsyncSession,
                           what: tuple[Table, tuple[str, ...], tuple[str, ...]]) -> Any:
    table, keys, returning = what
    statement = insert_ignoring_conflicts(session, table, *keys)
    return statement.returning(*(table.c[name] for name in returning)) if returning \
        else statement


def insert_ignoring_duplicates(session: AsyncSession, table: Table) -> Any:
    """``INSERT ... ON CONFLICT (idempotency_key) DO NOTHING`` into ``table``."""
    return insert_ignoring(session, table, "idempotency_key")


def insert_ignoring_duplicates_returning_ids(session: AsyncSession, table: Table) -> Any:
    """:func:`insert_ignoring_duplicates` ``RETURNING id``: the ids of the rows inserted."""
    return insert_ignoring(session, table, "idempotency_key", returning=("id",))


@cache
def update_by_id(table: Table) -> Any:
    """``UPDATE table SET <the parameters' columns> WHERE id = :row_id`` (for executemany)."""
    return update(table).where(table.c.id == bindparam("row_id"))


@cache
def _insert_returning_keys(table: Table, key: tuple[str, ...]) -> Any:
    """``INSERT ... RETURNING id, <key>``. Rows come back in any order, matched to theirs by
    ``key`` (unique): asking for the parameters' order instead makes SQLAlchemy send one
    INSERT per row on SQLite."""
    return insert(table).returning(table.c.id, *(table.c[name] for name in key))


async def save_rows(session: AsyncSession, table: Table, rows: list[RowState],
                    key: tuple[str, ...]) -> None:
    """Update the changed columns of loaded rows (one executemany per run of rows changing
    the same columns, in id order so that concurrent writers lock rows in the same order),
    then insert the new rows and give them their ids (found by the unique columns ``key``)."""
    changed = sorted(((row.id, row.changes()) for row in rows if not row.is_new),
                     key=lambda pair: pair[0])
    for _, run in groupby((pair for pair in changed if pair[1]), key=lambda pair: pair[1].keys()):
        await execute_many(session, update_by_id(table),
                           [{"row_id": row_id, **values} for row_id, values in run])
    new = [row for row in rows if row.is_new]
    if new:
        returned = await execute_returning(session, _insert_returning_keys(table, key),
                                           [row.insert_values() for row in new])
        ids = {tuple(found[1:]): found[0] for found in returned}
        for row in new:
            row.id = ids[tuple(getattr(row, name) for name in key)]
    for row in rows:
        row.mark_saved()
