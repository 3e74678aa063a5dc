"""SQLite's write transactions run on the event loop's thread (hub.store.sqlite_driver): a
busy loop no longer stretches the time a transaction holds the write lock, a writer waiting
for another process's never holds the lock while it waits for the loop, a writer that gives
up its place in line costs the others nothing (the line's order:
tests/unit/test_write_turns.py), long reads still run beside the loop, and a failed statement
or an outside writer leaves nothing stuck."""

from __future__ import annotations

import asyncio
import fcntl
import gc
import os
import sqlite3
import threading
import time
import warnings
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from hub.store.engine import make_engine, make_sessionmaker, reading
from hub.store.sqlite_driver import InLoopConnection
from hub.store.write_lock import lock_path
from tests.conftest import lock_file_free, wait_for

pytestmark = pytest.mark.asyncio

#: Statements in the test transaction: as many as the batch applier's.
STATEMENTS = 12
#: How long each turn of the busy task keeps the loop (a batch of renders).
TURN_SECONDS = 0.01


@pytest.fixture
async def db(tmp_path: Path):
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (x INTEGER PRIMARY KEY)"))
    yield engine, make_sessionmaker(engine), tmp_path / "hub.db"
    await engine.dispose()


class BusyLoop:
    """A task that keeps the loop busy for :data:`TURN_SECONDS` every turn it gets, counting
    its turns (what a batch of renders does to every other task)."""

    def __init__(self) -> None:
        self.turns = 0
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            until = time.perf_counter() + TURN_SECONDS
            while time.perf_counter() < until:
                pass
            self.turns += 1
            await asyncio.sleep(0)

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


async def test_the_engine_uses_the_in_loop_driver(db):
    engine, _sessions, _path = db
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        assert isinstance(raw.driver_connection, InLoopConnection)


async def test_a_write_transaction_does_not_give_the_loop_away_between_statements(db):
    _engine, sessions, _path = db
    busy = BusyLoop()
    try:
        async with sessions() as session:
            await session.execute(text("SELECT 1"))  # a connection, and a turn, beforehand
            await session.rollback()
            async with session.begin():
                await session.execute(text("INSERT INTO t VALUES (0)"))  # BEGIN is behind us
                before = busy.turns
                for n in range(1, STATEMENTS):
                    await session.execute(text("INSERT INTO t VALUES (:x)"), {"x": n})
                during = busy.turns - before
    finally:
        await busy.stop()
    # With a thread hand-off per statement the busy task ran between every two of them.
    assert during == 0
    async with sessions() as session:
        assert (await session.execute(text("SELECT count(*) FROM t"))).scalar() == STATEMENTS


class OtherProcess:
    """The lock file held through another open file description: to the lock, another
    process's writer."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(lock_path(str(path)), os.O_RDWR)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def let_go(self) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


async def _insert(sessions, value: int) -> None:
    async with sessions() as session, session.begin():
        await session.execute(text("INSERT INTO t VALUES (:x)"), {"x": value})


async def test_a_waiting_writer_never_holds_the_lock_while_the_loop_is_busy(db):
    """Once the other process lets go, the lock stays free until this process's writer gets
    a turn of the loop, and that turn begins, writes and commits: a writer waiting in a
    thread took the lock at once and held it through every busy turn before its own."""
    _engine, sessions, path = db
    other = OtherProcess(path)
    writer = asyncio.create_task(_insert(sessions, 1))
    await asyncio.sleep(0.05)  # let the writer find the lock taken and start looking again
    assert not writer.done()
    busy = BusyLoop()
    seen_free = held_while_waiting = 0
    try:
        other.let_go()
        while not writer.done():
            if lock_file_free(lock_path(str(path))):
                seen_free += 1
            else:
                held_while_waiting += 1
            await asyncio.sleep(0)
    finally:
        await busy.stop()
    await writer
    assert held_while_waiting == 0
    assert seen_free >= 1
    async with sessions() as session:
        assert (await session.execute(text("SELECT x FROM t"))).scalars().all() == [1]


async def test_a_writer_cancelled_in_line_leaves_the_others_their_turn(db):
    _engine, sessions, path = db
    other = OtherProcess(path)
    first = asyncio.create_task(_insert(sessions, 1))
    await asyncio.sleep(0.02)
    cancelled = asyncio.create_task(_insert(sessions, 2))
    last = asyncio.create_task(_insert(sessions, 3))
    await asyncio.sleep(0.02)
    cancelled.cancel()
    await asyncio.gather(cancelled, return_exceptions=True)
    other.let_go()
    await asyncio.wait_for(asyncio.gather(first, last), timeout=10)
    async with sessions() as session:
        assert (await session.execute(text("SELECT x FROM t ORDER BY x"))).scalars().all() \
            == [1, 3]
    await wait_for(lambda: lock_file_free(lock_path(str(path))), timeout=5)


async def test_a_connection_closed_outside_the_loop_gives_its_turn_back(db):
    """SQLAlchemy closes a connection abandoned mid-transaction from wherever the garbage
    collector runs (here another thread): its turn goes to the writer waiting behind it."""
    _engine, sessions, _path = db

    forgotten = [sessions()]  # never closed: the garbage collector ends it
    await forgotten[0].execute(text("INSERT INTO t VALUES (1)"))
    writer = asyncio.create_task(_insert(sessions, 2))
    await asyncio.sleep(0.05)
    assert not writer.done()  # in line behind the abandoned transaction

    def forget() -> None:
        forgotten.clear()
        gc.collect()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLAlchemy warns about the unclosed connection
        collecting = threading.Thread(target=forget)
        collecting.start()
        collecting.join()
    await asyncio.wait_for(writer, timeout=10)
    async with sessions() as session:
        assert (await session.execute(text("SELECT x FROM t"))).scalars().all() == [2]


async def test_a_long_read_runs_beside_the_loop(db):
    _engine, sessions, _path = db
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    try:
        async with reading(sessions) as session:
            total = (await session.execute(text(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                "WHERE i < 2000000) SELECT sum(i) FROM n"))).scalar()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert total == 2000000 * 2000001 // 2
    assert ticks > 100  # the loop kept turning while SQLite counted


async def test_a_failed_statement_rolls_back_and_frees_the_lock(db):
    _engine, sessions, path = db
    async with sessions() as session, session.begin():
        await session.execute(text("INSERT INTO t VALUES (1)"))
    with pytest.raises(IntegrityError):
        async with sessions() as session, session.begin():
            await session.execute(text("INSERT INTO t VALUES (2)"))
            await session.execute(text("INSERT INTO t VALUES (1)"))  # the primary key again
    outside = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        outside.execute("BEGIN IMMEDIATE")  # neither SQLite's lock nor ours is held
        outside.execute("ROLLBACK")
    finally:
        outside.close()
    async with sessions() as session:
        assert (await session.execute(text("SELECT x FROM t"))).scalars().all() == [1]
    assert Path(lock_path(str(path))).exists()


async def test_a_commit_that_fails_leaves_nothing_locked(db):
    """A COMMIT refused for a deferred constraint: SQLite keeps the transaction open, so the
    driver rolls it back; the next writer does not wait for a lock nobody will free."""
    engine, sessions, path = db
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE parent (id INTEGER PRIMARY KEY)"))
        await conn.execute(text("CREATE TABLE child (parent_id INTEGER REFERENCES parent(id) "
                                "DEFERRABLE INITIALLY DEFERRED)"))
    async with sessions() as session:
        await session.begin()
        await session.execute(text("INSERT INTO child VALUES (42)"))  # no parent 42
        with pytest.raises(IntegrityError):
            await session.commit()
    outside = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        outside.execute("BEGIN IMMEDIATE")  # SQLite's lock is free at once
        outside.execute("ROLLBACK")
    finally:
        outside.close()
    await asyncio.wait_for(_insert(sessions, 5), timeout=5)
    async with sessions() as session:
        assert (await session.execute(text("SELECT count(*) FROM child"))).scalar() == 0


async def test_an_outside_writer_is_waited_for_in_a_thread(db):
    """A writer that knows no lock file (the sqlite3 shell) holds SQLite's lock: the hub's
    transaction cannot begin at once, waits beside the loop, and goes on once it is gone."""
    engine, sessions, path = db
    outside = sqlite3.connect(path, isolation_level=None)
    outside.execute("BEGIN IMMEDIATE")
    ticks = 0

    async def write() -> None:
        async with sessions() as session, session.begin():
            await session.execute(text("INSERT INTO t VALUES (7)"))

    writer = asyncio.create_task(write())
    try:
        while ticks < 50:  # the loop turns while the writer waits
            ticks += 1
            await asyncio.sleep(0)
        assert not writer.done()
    finally:
        outside.execute("ROLLBACK")
        outside.close()
    await asyncio.wait_for(writer, timeout=10)
    async with sessions() as session:
        assert (await session.execute(text("SELECT x FROM t"))).scalars().all() == [7]


async def test_a_read_cancelled_mid_call_leaves_the_connection_usable(db):
    """The cancelled task's call goes on in its thread; the session's rollback and the next
    transactions on that connection still work, and nothing is lost."""
    _engine, sessions, _path = db

    async def long_read() -> None:
        async with reading(sessions) as session:
            await session.execute(text(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                "WHERE i < 3000000) SELECT sum(i) FROM n"))

    for attempt in range(4):  # every pooled connection gets its turn
        task = asyncio.create_task(long_read())
        for _ in range(3):
            await asyncio.sleep(0)  # the read is under way in a thread
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        async with sessions() as session, session.begin():
            await session.execute(text("INSERT INTO t VALUES (:x)"), {"x": attempt})
    async with sessions() as session:
        assert (await session.execute(text("SELECT x FROM t ORDER BY x"))).scalars().all() \
            == [0, 1, 2, 3]


async def test_streamed_results_and_an_autocommit_connection_work(db):
    """What SQLAlchemy asks of an aiosqlite connection beyond plain statements: a server-side
    cursor (``stream``) and a change of isolation level."""
    engine, sessions, _path = db
    async with sessions() as session, session.begin():
        for n in range(5):
            await session.execute(text("INSERT INTO t VALUES (:x)"), {"x": n})
    async with engine.connect() as conn:
        result = await conn.stream(text("SELECT x FROM t ORDER BY x"))
        assert [row.x async for row in result] == [0, 1, 2, 3, 4]
    async with engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await auto.execute(text("INSERT INTO t VALUES (9)"))
    async with sessions() as session:
        assert 9 in (await session.execute(text("SELECT x FROM t"))).scalars().all()
