"""The few statements that differ between SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


def insert_ignoring_conflicts(session: AsyncSession, table: Table, *index_elements: str) -> Any:
    """``INSERT ... ON CONFLICT (cols) DO NOTHING`` for the session's backend."""
    module = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    return module.insert(table).on_conflict_do_nothing(index_elements=list(index_elements))


def lock_skip_locked(session: AsyncSession, query: Select) -> Select:
    """Add ``FOR UPDATE SKIP LOCKED`` where the backend has it. SQLite needs none: its
    ``BEGIN IMMEDIATE`` already makes every write transaction exclusive."""
    if session.bind.dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True)
    return query


def lock_for_update(session: AsyncSession, query: Select) -> Select:
    """Add ``FOR UPDATE`` where the backend has it (serializes writers of one return)."""
    if session.bind.dialect.name == "postgresql":
        return query.with_for_update()
    return query


def lock_for_share(session: AsyncSession, query: Select) -> Select:
    """Add ``FOR SHARE`` where the backend has it: the rows read cannot change until this
    transaction ends, and a change committed meanwhile is read as it is now."""
    if session.bind.dialect.name == "postgresql":
        return query.with_for_update(read=True)
    return query


def claim_style(session: AsyncSession) -> str:
    """How a claim can lease rows and return their prior values in one statement:

    - ``"update_from"`` (PostgreSQL): ``UPDATE ... FROM (SELECT ... FOR UPDATE SKIP LOCKED)
      AS c ... RETURNING c.*``;
    - ``"cte"`` (SQLite 3.35+, which has RETURNING but cannot return columns of an UPDATE's
      FROM tables): ``WITH c AS MATERIALIZED (SELECT ...) UPDATE ... RETURNING`` with the prior
      values read back from ``c``;
    - ``"two_statements"``: ``SELECT`` then ``UPDATE`` (any other backend).
    """
    dialect = session.bind.dialect
    if dialect.name == "postgresql":
        return "update_from"
    if dialect.name == "sqlite" and dialect.update_returning:
        return "cte"
    return "two_statements"


class likely(FunctionElement):  # noqa: N801 (named like the SQL function it renders)
    """A condition most rows meet, so no index should be chosen for it: ``likely(condition)``
    on SQLite, the condition alone elsewhere. SQLite has no statistics here (the hub never
    runs ANALYZE) and takes an equality for a selective one: on ``priority = 0`` alone it
    walked every transactional notification instead of the status indexes."""

    # No Boolean type: SQLAlchemy would write SQLite's ``likely(...) = 1``, which hides the
    # hint from the planner.
    name = "likely"
    inherit_cache = True


@compiles(likely)
def _plain(element: likely, compiler: Any, **kw: Any) -> str:
    return f"({compiler.process(element.clauses, **kw)})"  # as tightly bound as a call


@compiles(likely, "sqlite")
def _sqlite_likely(element: likely, compiler: Any, **kw: Any) -> str:
    return f"likely({compiler.process(element.clauses, **kw)})"
