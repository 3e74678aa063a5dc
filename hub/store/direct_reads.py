"""A batch's reads and ``IN``-list updates straight on SQLite's connection, where it is safe.

:mod:`hub.store.bulk` took a batch's inserts and per-row updates off SQLAlchemy's per-statement
machinery; the statements that read a batch's rows back or change them by an ``IN`` list of
ids (the rows a worker still leases, its send intents, the inbox rows it finished, the
operators' match decisions) still went through ``AsyncSession.execute``: a greenlet hand-off,
the statement's cache key, the expansion of each ``IN`` list, an execution context and a
result object, about 1 ms of CPU a statement on the benchmark's machine against SQLite's own
0.1-0.2 ms.

:func:`fetch` runs such a statement inside a write transaction on SQLite (where
:mod:`hub.store.sqlite_driver` runs statements on the loop's thread): compiled once per
statement, each ``IN`` list's ``?`` written out for the list's length, every value bound with
the bind processor SQLAlchemy uses for its type, each column read back with its result
processor. The statement is built once and kept (a module constant, or one per backend),
its lists are ``bindparam(..., expanding=True)``. Anywhere else (PostgreSQL, a read outside
a write transaction, an empty list, a statement whose compiled form needs more than its
parameters: a Python-side default or ``onupdate``) it is ``session.execute``, and errors
are SQLAlchemy's on both paths.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.types import TupleType

from hub.store.bulk import as_sqlalchemy_error, writing_driver

if TYPE_CHECKING:
    from sqlalchemy.engine import Dialect
    from sqlalchemy.ext.asyncio import AsyncSession
    from sqlalchemy.sql.expression import Executable

    from hub.store.sqlite_driver import InLoopConnection

_EXPANDING = re.compile(r"\(__\[POSTCOMPILE_(\w+)\]\)")
#: A parameter every call must give (``bindparam`` without a value).
_REQUIRED = object()
#: Plans kept at most: a caller building its statement per call would otherwise grow it.
_MOST_PLANS = 256


@dataclass(frozen=True, slots=True)
class _Plan:
    """A statement compiled for SQLite, with what each call needs to bind and read it."""

    #: The SQL around the ``IN`` lists: one more piece than there are lists.
    pieces: tuple[str, ...]
    #: Each ``?`` of the compiled SQL in order: (parameter name, its constant or None,
    #: whether it is an ``IN`` list, its bind processor or None).
    binds: tuple[tuple[str, Any, bool, Callable[[Any], Any] | None], ...]
    #: The result processor of each column read back (None: the value as SQLite gives it).
    results: tuple[Callable[[Any], Any] | None, ...]
    #: The columns of an INSERT's or UPDATE's table: a parameter named after one would be a
    #: value to set for SQLAlchemy, which the compiled form does not have.
    columns: frozenset[str] = frozenset()

    def sql_and_params(self, params: dict[str, Any]) -> tuple[str, list[Any]] | None:
        """The SQL with each list written out, and its DB-API parameters; None when a list
        is empty (SQLAlchemy writes an empty ``IN`` its own way)."""
        values: list[Any] = []
        lengths: list[int] = []
        for name, constant, expanding, process in self.binds:
            value = params.get(name, constant)
            if value is _REQUIRED:
                raise InvalidRequestError(f"A value is required for bind parameter {name!r}")
            if expanding:
                if not value:
                    return None
                lengths.append(len(value))
                values += value if process is None else [process(item) for item in value]
            else:
                values.append(value if process is None else process(value))
        sql = self.pieces[0]
        for length, piece in zip(lengths, self.pieces[1:], strict=True):
            sql += "(" + ", ".join("?" * length) + ")" + piece
        return sql, values

    def read(self, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """``rows`` with each column through its result processor."""
        if not any(self.results):
            return rows
        return [tuple(value if process is None else process(value)
                      for value, process in zip(row, self.results, strict=True))
                for row in rows]


#: Plans by (statement, dialect name); None: not safe to run directly.
_PLANS: dict[tuple[Any, str], _Plan | None] = {}


def _plan(statement: Executable, dialect: Dialect) -> _Plan | None:
    key = (statement, dialect.name)
    if key in _PLANS:
        return _PLANS[key]
    compiled = statement.compile(dialect=dialect)
    plan = None
    names = tuple(compiled.positiontup or ())
    sql = str(compiled)
    lists = _EXPANDING.findall(sql)
    expanding = [name for name in names if compiled.binds[name].expanding]
    pieces = tuple(_EXPANDING.split(sql)[::2])
    bound = [compiled.binds[name] for name in names]
    if (lists == expanding and not any("__[POSTCOMPILE_" in piece for piece in pieces)
            and not any(getattr(compiled, name, None)
                        for name in ("insert_prefetch", "update_prefetch", "postfetch"))
            # A value computed at each execution, a tuple IN (one ``?`` per tuple here):
            # the session's.
            and not any(bind.callable or isinstance(bind.type, TupleType) for bind in bound)):
        binds = []
        for name, bind in zip(names, bound, strict=True):
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            constant = _REQUIRED if bind.required else bind.effective_value
            binds.append((name, constant, bind.expanding, process))
        columns = compiled.returning or list(getattr(statement, "selected_columns", ()))
        results = tuple(column.type.dialect_impl(dialect).result_processor(dialect, None)
                        for column in columns)
        table = getattr(statement, "table", None) if (compiled.isinsert or compiled.isupdate) \
            else None
        plan = _Plan(pieces, tuple(binds), results,
                     frozenset(table.c.keys()) if table is not None else frozenset())
    if len(_PLANS) >= _MOST_PLANS:
        _PLANS.clear()
    _PLANS[key] = plan
    return plan


def in_list(values: Iterable[Any]) -> list[Any]:
    """``values`` for an ``IN`` list of :func:`fetch`, ``[None]`` when there are none: ``IN
    (NULL)`` matches nothing, as ``IN ()`` would, and an empty list would take the statement
    off SQLite's direct path. Not for ``NOT IN``, which ``(NULL)`` would turn around."""
    return list(values) or [None]


async def fetch(session: AsyncSession, statement: Executable,
                params: dict[str, Any]) -> Sequence[Sequence[Any]]:
    """The rows ``session.execute(statement, params)`` returns (none for an UPDATE without
    RETURNING), as tuples in the same order; straight on SQLite's connection inside a write
    transaction (module docstring). ``statement`` is built once and kept."""
    # ORM changes not flushed yet: session.execute flushes them first.
    found = None if session.new or session.dirty or session.deleted \
        else await writing_driver(session)
    if found is not None:
        driver, dialect = found
        plan = _plan(statement, dialect)
        if plan is not None and plan.columns and not plan.columns.isdisjoint(params):
            plan = None  # a value to set that the compiled form does not have
        ready = _bound(plan, params) if plan is not None else None
        if ready is not None:
            return plan.read(_run(driver, *ready))
    result = await session.execute(statement, params)
    # An ORM statement's result always has rows; a Core UPDATE without RETURNING has none.
    return list(result.all()) if getattr(result, "returns_rows", True) else []


def _bound(plan: _Plan, params: dict[str, Any]) -> tuple[str, list[Any]] | None:
    """The plan's SQL and parameters; a value no processor takes raises SQLAlchemy's
    ``StatementError``, as ``session.execute`` does (hub.store.failures tells a refusal)."""
    try:
        return plan.sql_and_params(params)
    except Exception as exc:
        raise as_sqlalchemy_error(plan.pieces[0], None, exc) from exc


def _run(driver: InLoopConnection, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    try:
        return driver.write_returning(sql, params)
    except sqlite3.Error as exc:
        raise as_sqlalchemy_error(sql, params[:10], exc) from exc
