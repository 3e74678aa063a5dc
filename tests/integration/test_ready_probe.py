"""The question a worker asks before each claim (hub.store.claims.ReadyProbe): on a SQLite
file it is one read on the loop's thread through a connection of its own
(hub.store.quick_reads), and it must answer as the same statement run through a session
does, see each commit at once, and never wait: a database it cannot read at once answers
"maybe", which sends the worker to the claim."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, and_, insert, or_
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from hub.store.claims import ReadyProbe
from hub.store.engine import make_engine, make_sessionmaker, quick_reader, reading
from hub.store.models_base import UtcDateTime

pytestmark = pytest.mark.asyncio

_META = MetaData()
JOBS = Table("jobs", _META, Column("id", Integer, primary_key=True),
             Column("status", String(16)), Column("due_at", UtcDateTime()),
             Column("lease_until", UtcDateTime(), nullable=True))
T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def ready(now):  # noqa: ANN001, ANN201 (a datetime, or the probe's parameter)
    """Due, not leased, and in one of three statuses (an IN list the compiler writes out)."""
    return and_(JOBS.c.status.in_(("pending", "unknown", "sent")), JOBS.c.due_at <= now,
                or_(JOBS.c.lease_until.is_(None), JOBS.c.lease_until < now))


async def _engine(url: str) -> AsyncEngine:
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(_META.create_all)
    return engine


@pytest.fixture
async def file_db(tmp_path: Path):
    engine = await _engine(f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
    yield engine, tmp_path / "hub.db"
    await engine.dispose()


async def _through_a_session(sessions, now: datetime) -> bool:
    async with reading(sessions) as session:
        found = await session.execute(
            JOBS.select().with_only_columns(JOBS.c.id).where(ready(now)).limit(1))
        return found.first() is not None


async def test_it_answers_as_the_statement_run_through_a_session(file_db):
    engine, _path = file_db
    sessions = make_sessionmaker(engine)
    probe = ReadyProbe(sessions, JOBS, ready)
    assert quick_reader(engine) is not None
    rows = [  # each becomes ready at a different moment, or never
        {"status": "pending", "due_at": T0 + timedelta(minutes=10), "lease_until": None},
        {"status": "sent", "due_at": T0, "lease_until": T0 + timedelta(minutes=20)},
        {"status": "failed", "due_at": T0, "lease_until": None},
        {"status": "unknown", "due_at": T0 + timedelta(minutes=30),
         "lease_until": T0 + timedelta(minutes=25)},
    ]
    answers = []
    for row in rows:
        async with engine.begin() as conn:
            await conn.execute(JOBS.delete())
            await conn.execute(insert(JOBS), [row])
        for minutes in (0, 5, 10, 15, 21, 26, 31):
            now = T0 + timedelta(minutes=minutes)
            expected = await _through_a_session(sessions, now)
            assert await probe(now) is expected, (row, minutes)
            answers.append(expected)
    assert True in answers and False in answers  # both answers were really asked for


async def test_each_commit_is_seen_at_once(file_db):
    engine, _path = file_db
    probe = ReadyProbe(make_sessionmaker(engine), JOBS, ready)
    assert await probe(T0) is False
    async with engine.begin() as conn:
        await conn.execute(insert(JOBS), [{"status": "pending", "due_at": T0}])
    assert await probe(T0) is True
    async with engine.begin() as conn:
        await conn.execute(JOBS.update().values(lease_until=T0 + timedelta(seconds=30)))
    assert await probe(T0) is False


async def test_a_database_it_cannot_read_at_once_answers_maybe_without_waiting(file_db):
    engine, path = file_db
    probe = ReadyProbe(make_sessionmaker(engine), JOBS, ready)
    assert await probe(T0) is False
    # Another program takes the database for itself (exclusive locking, as an operator's
    # shell may, once the hub's connections are closed): reads then fail, and the worker
    # must go and claim (where waiting is handled), not wait here on the loop's thread.
    await engine.dispose()
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("PRAGMA locking_mode=EXCLUSIVE")
        other.execute("BEGIN EXCLUSIVE")
        other.execute("INSERT INTO jobs (status, due_at) VALUES ('failed', '2026-12-04')")
        other.execute("COMMIT")  # the exclusive lock stays until the connection closes
        started = time.monotonic()
        assert await probe(T0) is True
        assert time.monotonic() - started < 1  # the busy timeout would have been 60 s
    finally:
        other.close()
    assert await probe(T0) is False


async def test_an_engine_the_hub_did_not_make_is_asked_through_a_session(tmp_path):
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'other.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(_META.create_all)
    try:
        assert quick_reader(engine) is None
        probe = ReadyProbe(make_sessionmaker(engine), JOBS, ready)
        assert await probe(T0) is False
        async with engine.begin() as conn:
            await conn.execute(insert(JOBS), [{"status": "pending", "due_at": T0}])
        assert await probe(T0) is True
    finally:
        await engine.dispose()


async def test_disposing_the_engine_closes_the_reader(file_db):
    engine, _path = file_db
    probe = ReadyProbe(make_sessionmaker(engine), JOBS, ready)
    await probe(T0)
    reader = quick_reader(engine)
    assert reader is not None and reader._connection is not None
    await engine.dispose()
    assert reader._connection is None
