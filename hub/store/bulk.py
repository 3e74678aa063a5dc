"""Executemany without SQLAlchemy's per-statement and per-row machinery, where it is safe.

A batch's plain inserts and updates (timeline entries, delivery attempts, receipts, changed
rows) and its inserts that return ids went through ``AsyncSession.execute``: a greenlet
hand-off, the compiled cache's key, an execution context, and ``construct_params`` plus the
bind processors for every row. On this machine that was ~230 µs a statement and ~20 µs a row
on top of SQLite's own work (docs/performance.md).

Inside a write transaction on SQLite (:mod:`hub.store.sqlite_driver` runs those on the loop's
thread), :func:`execute_many` compiles the statement once per set of columns, converts each
row with the bind processors SQLAlchemy would use, and hands the rows to sqlite3's
``executemany`` on the transaction's own connection; :func:`execute_returning` does the same
for an ``INSERT ... RETURNING``, one multi-row ``VALUES`` statement per as many rows as SQLite
takes parameters.

Anywhere else (PostgreSQL, an in-memory SQLite, outside a write transaction) and for any
statement whose compiled form needs more than the given values (a Python-side default, an
``onupdate``, a constant bound in the statement itself), it is ``session.execute`` as before.
Errors are SQLAlchemy's, as ``session.execute`` raises them, so callers handle both paths
alike.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import DBAPIError

from hub.store.sqlite_driver import InLoopConnection

if TYPE_CHECKING:
    from sqlalchemy.engine import Dialect
    from sqlalchemy.ext.asyncio import AsyncSession
    from sqlalchemy.sql.expression import Executable


@dataclass(frozen=True, slots=True)
class _Plan:
    """A statement compiled for one set of parameter names, and how to bind each row."""

    sql: str
    #: A row's values in the order the SQL's ``?`` take them.
    values: Callable[[dict[str, Any]], tuple[Any, ...]]
    #: (position, bind processor) of the values that have one.
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]
    #: An INSERT ... RETURNING: the SQL before its ``VALUES``, one row's ``(?, ...)`` group
    #: (repeated once per row) and the SQL after it; the result processor of each returned
    #: column.
    returning_parts: tuple[str, str, str] | None = None
    results: tuple[Callable[[Any], Any] | None, ...] = ()

    def bind(self, row: dict[str, Any]) -> tuple[Any, ...]:
        """The DB-API parameters of ``row``."""
        values = self.values(row)
        if not self.processors:
            return values
        bound = list(values)
        for position, process in self.processors:
            bound[position] = process(bound[position])
        return tuple(bound)


#: Plans by (statement, parameter names, dialect name); None: not safe to run directly.
_PLANS: dict[tuple[Any, tuple[str, ...], str], _Plan | None] = {}
#: Plans kept at most: a caller building its statement per call would otherwise grow it.
_MOST_PLANS = 512


def _plan(statement: Executable, names: tuple[str, ...], dialect: Dialect, *,
          returning: bool = False) -> _Plan | None:
    key = (statement, names, dialect.name, returning)
    if key in _PLANS:
        return _PLANS[key]
    compiled = statement.compile(dialect=dialect, column_keys=list(names))
    order = tuple(compiled.positiontup or ())
    plan = None
    # Exactly the values given, no default that SQLAlchemy would add, no column it would
    # read back but the RETURNING asked for.
    if sorted(order) == sorted(names) and len(set(order)) == len(order) \
            and bool(compiled.returning) == returning and not compiled.insert_prefetch \
            and not compiled.update_prefetch and not compiled.postfetch:
        # The dialect's own form of each type, as SQLAlchemy binds it (a plain DateTime is
        # SQLite's DATETIME, with its text format).
        processors = ((position, compiled.binds[name].type.dialect_impl(dialect)
                       .bind_processor(dialect)) for position, name in enumerate(order))
        getter = itemgetter(*order)
        sql = str(compiled)
        parts, results = None, ()
        if returning:
            group = "(" + ", ".join("?" * len(order)) + ")"
            if sql.count("VALUES " + group) == 1:
                head, tail = sql.split("VALUES " + group)
                parts = (head + "VALUES ", group, tail)
                results = tuple(column.type.dialect_impl(dialect).result_processor(dialect, None)
                                for column in compiled.returning)
        if parts is not None or not returning:
            plan = _Plan(sql, getter if len(order) > 1 else lambda row: (getter(row),),
                         tuple((position, process) for position, process in processors
                               if process is not None), parts, results)
    if len(_PLANS) >= _MOST_PLANS:
        _PLANS.clear()
    _PLANS[key] = plan
    return plan


def as_sqlalchemy_error(sql: str, params: Sequence[Any] | None,
                        exc: Exception) -> DBAPIError:
    """The error ``session.execute`` raises for ``exc`` (a driver error, or a value no bind
    processor takes: a ``StatementError``), its parameters hidden, so callers tell a refused
    row from an outage alike on both paths (:mod:`hub.store.failures`)."""
    return DBAPIError.instance(sql, params, exc, sqlite3.Error, hide_parameters=True)


def _bound(plan: _Plan, sql: str, rows: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """The rows' DB-API parameters; a value no processor takes (a naive datetime, a date out
    of range) raises SQLAlchemy's ``StatementError``, as ``session.execute`` does."""
    try:
        return [plan.bind(row) for row in rows]
    except Exception as exc:
        raise as_sqlalchemy_error(sql, None, exc) from exc


async def writing_driver(session: AsyncSession) -> tuple[InLoopConnection, Dialect] | None:
    """The SQLite connection of ``session``'s write transaction, which statements may run
    straight on, and its dialect; None anywhere else (PostgreSQL, an in-memory SQLite,
    outside a write transaction)."""
    if session.bind.dialect.name != "sqlite":  # no hop to fetch a connection for nothing
        return None
    connection = await session.connection()
    driver = getattr(connection.sync_connection.connection, "driver_connection", None)
    if not isinstance(driver, InLoopConnection) or not driver.writing:
        return None
    return driver, connection.dialect


async def _direct(session: AsyncSession, statement: Executable,
                  rows: Sequence[dict[str, Any]], *, returning: bool = False
                  ) -> tuple[InLoopConnection, _Plan] | None:
    """The driver connection and plan to run ``rows`` straight on, or None where that is not
    safe (module docstring)."""
    found = await writing_driver(session)
    if found is None:
        return None
    driver, dialect = found
    keys = rows[0].keys()
    plan = _plan(statement, tuple(keys), dialect, returning=returning)
    if plan is None or any(row.keys() != keys for row in rows):
        return None
    return driver, plan


async def execute_many(session: AsyncSession, statement: Executable,
                       rows: Sequence[dict[str, Any]]) -> None:
    """``session.execute(statement, rows)`` for an INSERT or UPDATE run once per row, straight
    on SQLite's connection when that is safe (module docstring). Every row has the same
    keys. ``statement`` is built once and kept (a module constant): it is compiled once per
    set of keys."""
    if not rows:
        return
    direct = await _direct(session, statement, rows)
    if direct is None:
        await session.execute(statement, list(rows))
        return
    driver, plan = direct
    params = _bound(plan, plan.sql, rows)
    try:
        driver.write_many(plan.sql, params)
    except sqlite3.Error as exc:
        raise as_sqlalchemy_error(plan.sql, params[:10], exc) from exc


async def execute_returning(session: AsyncSession, statement: Executable,
                            rows: Sequence[dict[str, Any]]) -> list[Sequence[Any]]:
    """The rows an ``INSERT ... RETURNING`` (``ON CONFLICT DO NOTHING`` too) of ``rows``
    returns, in any order, as ``session.execute(statement, rows).all()`` would give them: on
    SQLite inside a write transaction, one multi-row ``VALUES`` statement per as many rows as
    SQLite takes parameters (module docstring). Every row has the same keys; ``statement``
    is built once and kept."""
    if not rows:
        return []
    direct = await _direct(session, statement, rows, returning=True)
    if direct is None:
        return list((await session.execute(statement, list(rows))).all())
    driver, plan = direct
    head, group, tail = plan.returning_parts
    per = max(1, driver.parameter_limit() // group.count("?"))
    found: list[Sequence[Any]] = []
    for start in range(0, len(rows), per):
        chunk = rows[start:start + per]
        sql = head + ", ".join([group] * len(chunk)) + tail
        params = [value for bound in _bound(plan, sql, chunk) for value in bound]
        try:
            found += driver.write_returning(sql, params)
        except sqlite3.Error as exc:
            raise as_sqlalchemy_error(sql, params[:10], exc) from exc
    if any(plan.results):
        found = [tuple(value if process is None else process(value)
                       for value, process in zip(row, plan.results, strict=True))
                 for row in found]
    return found
