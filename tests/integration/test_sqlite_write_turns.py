"""A writer that waits for another process's transaction waits on the event loop, in its
process's line (hub.store.write_turns, hub.store.sqlite_driver): the lock file is never held
by a writer that is only waiting for its turn of a busy loop, and a writer that gives up its
place in line costs the others nothing. (The line's order: tests/unit/test_write_turns.py.)"""

from __future__ import annotations

import asyncio
import fcntl
import os
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from hub.store.engine import make_engine, make_sessionmaker
from hub.store.write_lock import lock_path
from tests.conftest import wait_for

pytestmark = pytest.mark.asyncio

#: How long each turn of the busy task keeps the loop (a batch of renders).
TURN_SECONDS = 0.01


@pytest.fixture
async def db(tmp_path: Path):
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (n INTEGER PRIMARY KEY, x INTEGER)"))
    yield make_sessionmaker(engine), lock_path(str(tmp_path / "hub.db"))
    await engine.dispose()


class OtherProcess:
    """The lock file held through another open file description: to the lock, another
    process's writer."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def let_go(self) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def _held(path: str) -> bool:
    """Whether some writer holds the lock file now (probed without keeping it)."""
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


async def _insert(sessions, value: int) -> None:
    async with sessions() as session, session.begin():
        await session.execute(text("INSERT INTO t (x) VALUES (:x)"), {"x": value})


async def _busy(stop: asyncio.Event) -> None:
    """Keep the loop for :data:`TURN_SECONDS` every turn this task gets."""
    while not stop.is_set():
        until = time.perf_counter() + TURN_SECONDS
        while time.perf_counter() < until:
            pass
        await asyncio.sleep(0)


async def test_a_waiting_writer_never_holds_the_lock_while_the_loop_is_busy(db):
    """Once the other process lets go, the lock stays free until this process's writer gets
    a turn of the loop, and that turn begins, writes and commits: a writer waiting in a
    thread took the lock at once and held it through every busy turn before its own."""
    sessions, path = db
    other = OtherProcess(path)
    writer = asyncio.create_task(_insert(sessions, 1))
    await asyncio.sleep(0.05)  # let the writer find the lock taken and start looking again
    assert not writer.done()
    stop = asyncio.Event()
    busy = asyncio.create_task(_busy(stop))
    seen_free = held_while_waiting = 0
    try:
        other.let_go()
        while not writer.done():
            if _held(path):
                held_while_waiting += 1
            else:
                seen_free += 1
            await asyncio.sleep(0)
    finally:
        stop.set()
        await busy
    await writer
    assert held_while_waiting == 0
    assert seen_free >= 1
    async with sessions() as session:
        assert (await session.execute(text("SELECT x FROM t"))).scalars().all() == [1]


async def test_a_writer_cancelled_in_line_leaves_the_others_their_turn(db):
    sessions, path = db
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
        assert (await session.execute(text("SELECT x FROM t ORDER BY n"))).scalars().all() \
            == [1, 3]
    await wait_for(lambda: not _held(path), timeout=5)
