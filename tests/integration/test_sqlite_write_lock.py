"""SQLite writers queue on the lock file beside the database (hub.store.write_lock): a writer
waits while another holds it, goes on as soon as it is released (by a commit, a rollback, a
broken connection or a killed process), and never keeps it after its transaction."""

from __future__ import annotations

import asyncio
import fcntl
import gc
import os
import signal
import sqlite3
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
from sqlalchemy import text

from hub.store.engine import make_engine, make_sessionmaker, reading
from hub.store.migrate import upgrade
from hub.store.outbox import Outbox
from hub.store.write_lock import lock_path, take_away_overdue
from tests.conftest import lock_file_free, wait_for

pytestmark = pytest.mark.asyncio

#: A writer blocked on the lock must still be waiting after this long (it would have
#: finished in milliseconds had it not waited).
BLOCKED_FOR = 0.3


@pytest.fixture
async def db(tmp_path: Path):
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (x INTEGER)"))
    yield engine, make_sessionmaker(engine), lock_path(str(tmp_path / "hub.db"))
    await engine.dispose()


async def _insert(sessions, value: int) -> None:
    async with sessions() as session, session.begin():
        await session.execute(text("INSERT INTO t VALUES (:x)"), {"x": value})


async def test_the_lock_is_given_back_after_a_commit_and_after_a_rollback(db):
    engine, sessions, path = db
    await _insert(sessions, 1)
    assert lock_file_free(path)
    with pytest.raises(RuntimeError):
        async with sessions() as session, session.begin():
            await session.execute(text("INSERT INTO t VALUES (2)"))
            assert not lock_file_free(path)  # held for the whole transaction
            raise RuntimeError("the transaction fails")
    assert lock_file_free(path)
    async with sessions() as session:
        assert await session.scalar(text("SELECT count(*) FROM t")) == 1


async def test_a_broken_connection_gives_the_lock_back(db):
    engine, sessions, path = db
    async with engine.connect() as conn:
        await conn.execute(text("INSERT INTO t VALUES (1)"))
        assert not lock_file_free(path)
        await conn.invalidate()
    assert lock_file_free(path)
    await _insert(sessions, 2)


async def test_a_writer_waits_for_the_holder_and_goes_on_when_it_lets_go(db):
    _engine, sessions, path = db
    holder = os.open(path, os.O_RDWR)
    fcntl.flock(holder, fcntl.LOCK_EX)  # another process's writer, as far as the lock goes
    try:
        writer = asyncio.create_task(_insert(sessions, 1))
        done, _ = await asyncio.wait({writer}, timeout=BLOCKED_FOR)
        assert not done
    finally:
        fcntl.flock(holder, fcntl.LOCK_UN)
        os.close(holder)
    await asyncio.wait_for(writer, timeout=10)
    async with sessions() as session:
        assert await session.scalar(text("SELECT count(*) FROM t")) == 1


async def test_a_holder_killed_with_sigkill_frees_the_lock(db):
    _engine, sessions, path = db
    code = ("import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR); "
            "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.read()")
    holder = subprocess.Popen([sys.executable, "-c", code, path], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        writer = asyncio.create_task(_insert(sessions, 1))
        done, _ = await asyncio.wait({writer}, timeout=BLOCKED_FOR)
        assert not done
        holder.send_signal(signal.SIGKILL)
        await asyncio.wait_for(writer, timeout=10)
    finally:
        holder.kill()
        holder.wait()
    assert lock_file_free(path)


async def test_a_connection_dropped_without_closing_gives_the_lock_back(db):
    _engine, sessions, path = db

    async def forgetful() -> None:
        session = sessions()  # never closed: the garbage collector ends it
        await session.execute(text("INSERT INTO t VALUES (1)"))

    await forgetful()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLAlchemy warns about the unclosed connection
        gc.collect()
    assert lock_file_free(path)
    await asyncio.wait_for(_insert(sessions, 2), timeout=10)


async def test_a_transaction_held_past_the_limit_loses_the_lock(db):
    _engine, sessions, path = db
    async with sessions() as session, session.begin():
        await session.execute(text("INSERT INTO t VALUES (1)"))
        assert take_away_overdue(time.monotonic(), limit=3600) == 0
        # Past its BEGIN: not mistaken for a writer stuck there once the BEGIN limit is over.
        assert take_away_overdue(time.monotonic() + 2, limit=3600) == 0
        assert not lock_file_free(path)
        # A transaction left open (a bug): the writers behind it fall back to SQLite's busy
        # timeout instead of waiting for ever.
        assert take_away_overdue(time.monotonic() + 61) == 1
        assert lock_file_free(path)
    await _insert(sessions, 2)  # the connection's lock works again afterwards
    assert lock_file_free(path)


async def test_a_writer_stuck_in_its_begin_gives_the_lock_to_the_others(db):
    _engine, sessions, path = db
    outside = sqlite3.connect(path.removesuffix(".writelock"), isolation_level=None)
    outside.execute("BEGIN IMMEDIATE")  # another program writing: it knows no lock file
    try:
        writer = asyncio.create_task(_insert(sessions, 1))
        await wait_for(lambda: not lock_file_free(path), timeout=10)  # queued first, now in BEGIN
        assert take_away_overdue(time.monotonic() + 2) == 1  # past the BEGIN limit
        assert lock_file_free(path)  # the writers behind it may wait for SQLite side by side
        assert not writer.done()
    finally:
        outside.execute("ROLLBACK")
        outside.close()
    await asyncio.wait_for(writer, timeout=10)


async def test_the_lock_file_is_named_after_the_database_file_whatever_the_url(tmp_path):
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}?timeout=5")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
    finally:
        await engine.dispose()
    assert sorted(p.name for p in tmp_path.glob("*.writelock")) == ["hub.db.writelock"]


async def test_a_reading_session_neither_takes_nor_waits_for_the_lock(db):
    _engine, sessions, path = db
    await _insert(sessions, 1)
    async with sessions() as writer, writer.begin():
        await writer.execute(text("INSERT INTO t VALUES (2)"))  # holds the lock
        async with reading(sessions) as session:  # the last commit, at once
            assert await session.scalar(text("SELECT count(*) FROM t")) == 1
    async with reading(sessions) as session:
        assert await session.scalar(text("SELECT count(*) FROM t")) == 2
        assert lock_file_free(path)


async def test_an_idle_poll_does_not_queue_behind_the_writers(tmp_path):
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
    await upgrade(engine)
    outbox = Outbox(make_sessionmaker(engine), "node-a", lease_seconds=60)
    path = lock_path(str(tmp_path / "hub.db"))
    holder = os.open(path, os.O_RDWR)
    fcntl.flock(holder, fcntl.LOCK_EX)  # another process's writer, mid-transaction
    try:
        # Nothing is due: the claim finds that out from a snapshot, without the lock.
        poll = asyncio.create_task(outbox.claim(10, spare=lambda free, busy: free))
        done, _ = await asyncio.wait({poll}, timeout=5)
    finally:  # let a poll that did queue go on (a thread waiting on flock cannot be cancelled)
        fcntl.flock(holder, fcntl.LOCK_UN)
        os.close(holder)
    try:
        assert await poll == []
        assert done, "the idle poll waited for the writer"
    finally:
        await engine.dispose()
