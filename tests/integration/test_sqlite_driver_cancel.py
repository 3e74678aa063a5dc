"""A statement of the in-loop SQLite driver (hub.store.sqlite_driver) still running in a thread
when its task is cancelled: SQLAlchemy invalidates the connection and closes it. The close
must wait for the statement, as aiosqlite's one thread per connection made it, instead of
running beside it in another of the driver's threads: sqlite3 closed under a running
statement is undefined behaviour (a segmentation fault, seen while writing this test).

The spy below wraps the connection's real sqlite3 connection and its cursors and records
whether two threads were ever inside them at once."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from hub.store.engine import make_engine, make_sessionmaker, reading

pytestmark = pytest.mark.asyncio

LONG = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
        "WHERE i < 3000000) SELECT sum(i) FROM n")


class Overlaps:
    """Counts calls into one sqlite3 connection made while another thread is inside it."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self.inside: set[int] = set()
        self.overlaps: list[str] = []

    def run(self, what: str, function: Any, *args: Any) -> Any:
        me = threading.get_ident()
        with self._guard:
            if self.inside - {me}:
                self.overlaps.append(what)
            self.inside.add(me)
        try:
            return function(*args)
        finally:
            with self._guard:
                self.inside.discard(me)


class SpyCursor:
    def __init__(self, cursor: Any, overlaps: Overlaps) -> None:
        self._cursor, self._overlaps = cursor, overlaps

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._cursor, name)
        if name in ("execute", "executemany", "fetchall", "fetchone", "fetchmany", "close"):
            return lambda *args: self._overlaps.run(f"cursor.{name}", value, *args)
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
        else:
            setattr(self._cursor, name, value)


class SpyConnection:
    def __init__(self, connection: Any, overlaps: Overlaps) -> None:
        self._connection, self._overlaps = connection, overlaps

    def cursor(self) -> SpyCursor:
        return SpyCursor(self._connection.cursor(), self._overlaps)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._connection, name)
        if name in ("commit", "rollback", "close"):
            return lambda *args: self._overlaps.run(f"connection.{name}", value, *args)
        return value


async def test_a_cancelled_read_is_not_closed_under_its_feet(tmp_path: Path):
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
    sessions = make_sessionmaker(engine)
    overlaps = Overlaps()

    async def long_read() -> None:
        async with reading(sessions) as session:
            raw = await (await session.connection()).get_raw_connection()
            driver = raw.driver_connection
            driver._conn = SpyConnection(driver._conn, overlaps)
            await session.execute(text(LONG))

    try:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):  # a request or a shutdown gives up on the read
                await long_read()
        async with sessions() as session:  # the pool still works
            assert (await session.execute(text("SELECT 1"))).scalar() == 1
    finally:
        await engine.dispose()
    assert overlaps.overlaps == []
