"""The async engine, tuned per backend, and the session factory."""

from __future__ import annotations

import weakref
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import event, make_url
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from hub.store import sqlite_driver, write_lock
from hub.store.quick_reads import QuickReader

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

#: Connections per process to a SQLite database (one writes at a time anyway).
_SQLITE_POOL = 4
#: How long a SQLite statement waits for a lock held outside the hub's queue.
_BUSY_SECONDS = 60
#: The execution option of a connection in a :func:`reading` session.
_READS_ONLY = "returnhub_reads_only"
#: The quick reader of each file SQLite engine (:func:`quick_reader`).
_QUICK_READERS: weakref.WeakKeyDictionary[AsyncEngine, QuickReader] = (
    weakref.WeakKeyDictionary())


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def is_sqlite(url: str) -> bool:
    """Whether ``url`` points at SQLite."""
    return url.startswith("sqlite")


def sqlite_path(url: str) -> str:
    """The file path of a SQLite URL ("" when it names none)."""
    return url.split(":///", 1)[1] if ":///" in url else ""


def in_memory_sqlite(url: str) -> bool:
    """Whether ``url`` is an in-memory SQLite database (no file: a second process or
    connection pool could not see it)."""
    if not is_sqlite(url):
        return False
    path = sqlite_path(url)
    return not path or path.startswith(":memory:") or "mode=memory" in url


def make_engine(url: str, *, synchronous: str = "FULL", pool_size: int = 8,
                echo: bool = False, statement_timeout: float | None = None) -> AsyncEngine:
    """Create the engine. SQLite gets WAL, a busy timeout and ``BEGIN IMMEDIATE`` so that
    concurrent writers queue on the lock instead of failing a read-to-write upgrade; a file
    database's writers queue in the kernel first (:mod:`hub.store.write_lock`).

    ``statement_timeout`` (PostgreSQL; None or 0: none): the longest a statement, or opening
    a connection, waits for the server before it fails as a lost database does. It is the
    driver's clock, not the server's ``statement_timeout``: a server behind a network that
    drops packets never gets to enforce its own."""
    if is_sqlite(url):
        options: dict = {}
        if not in_memory_sqlite(url):
            Path(sqlite_path(url)).parent.mkdir(parents=True, exist_ok=True)
            # Write transactions on the loop's thread (hub.store.sqlite_driver); an in-memory
            # database keeps aiosqlite's one thread per connection.
            args, kwargs = SQLiteDialect_aiosqlite().create_connect_args(make_url(url))
            options["async_creator"] = sqlite_driver.connector(
                args, {**kwargs, "timeout": _BUSY_SECONDS}, threads=_SQLITE_POOL)
        engine = create_async_engine(url, echo=echo, pool_size=_SQLITE_POOL, max_overflow=0,
                                     connect_args={"timeout": _BUSY_SECONDS},
                                     hide_parameters=True, **options)

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_connection, record):  # noqa: ANN001
            # Let SQLAlchemy, not the driver, decide when transactions begin.
            if dbapi_connection.isolation_level is not None:
                dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={_BUSY_SECONDS * 1000}")
            # The file SQLite opened, whatever the URL's spelling (query, symlink); "" when
            # the database is in memory.
            cursor.execute("PRAGMA database_list")
            database_file = next((row[2] for row in cursor.fetchall() if row[1] == "main"), "")
            cursor.close()
            if database_file:
                write_lock.install(record, database_file)

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(connection):  # noqa: ANN001
            options = connection.get_execution_options()
            if options.get("isolation_level") == "AUTOCOMMIT":
                return  # every statement its own transaction, as asked
            # Straight to the driver's cursor: SQLAlchemy's execution of a statement (events,
            # context, result) cost more than the BEGIN itself, once per transaction.
            cursor = connection.connection.dbapi_connection.cursor()
            try:
                cursor.execute("BEGIN" if options.get(_READS_ONLY) else write_lock.BEGIN)
            finally:
                cursor.close()

        if not in_memory_sqlite(url):
            reader = _QUICK_READERS[engine] = QuickReader(args[0], uri=bool(kwargs.get("uri")))
            event.listen(engine.sync_engine, "engine_disposed", lambda _engine: reader.close())

        @event.listens_for(engine.sync_engine, "checkin")
        def _on_checkin(_dbapi_connection, record):  # noqa: ANN001
            write_lock.release(record.info)

        @event.listens_for(engine.sync_engine, "close")
        @event.listens_for(engine.sync_engine, "detach")
        def _on_close(_dbapi_connection, record):  # noqa: ANN001
            # "detach": a connection garbage-collected while checked out (never checked in)
            # leaves its pool this way; its lock must not outlive it.
            write_lock.close(record.info)

        return engine
    # hide_parameters: a statement's error never quotes its values (hashes, ciphertexts,
    # whatever a row held), wherever it is logged or stored.
    limits = {"command_timeout": statement_timeout, "timeout": statement_timeout} \
        if statement_timeout else {}
    return create_async_engine(url, echo=echo, pool_size=pool_size, max_overflow=pool_size,
                               pool_pre_ping=True, hide_parameters=True, connect_args=limits)


def quick_reader(engine: AsyncEngine) -> QuickReader | None:
    """The reader of small reads on the loop's thread (:mod:`hub.store.quick_reads`) of a file
    SQLite engine made here; None for any other."""
    return _QUICK_READERS.get(engine)


@asynccontextmanager
async def reading(sessions: async_sessionmaker) -> AsyncIterator[AsyncSession]:
    """A session that only reads. On SQLite its transaction is a deferred one, a snapshot of
    the last commit: it neither takes nor waits for the write lock (and the lock file), so
    a poll that finds nothing costs the writers nothing. Writing through it is a bug (the
    write would have to upgrade the snapshot, and fails if another commit came first)."""
    async with sessions() as session:
        await session.connection(execution_options={_READS_ONLY: True})
        yield session


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)
