"""SQLite for the async engine: write transactions run whole on the event loop's thread.

With aiosqlite every statement is a hand-off to the connection's thread and back, two turns
of the event loop; a write transaction holds SQLite's one write lock (and the hub's lock
file, :mod:`hub.store.write_lock`) across all of them. On a busy loop (a batch of renders,
a burst of webhooks) a turn takes tens of milliseconds, so a twelve-statement transaction
held the lock for 13 ms at p50 and 60-80 ms at p90 while it did about 1 ms of work, and every
other writer of every process, a webhook's group commit too, waited behind it.

This driver speaks aiosqlite's interface (what SQLAlchemy's ``sqlite+aiosqlite`` dialect
calls, given through ``async_creator``) over a plain :mod:`sqlite3` connection:

- a write transaction runs whole on the loop's thread: its ``BEGIN IMMEDIATE``, its
  statements (the short, indexed statements of the hub's batches) and its ``COMMIT`` or
  ``ROLLBACK`` (with FULL sync, one fsync: 0.2-0.6 ms here), and the lock file is given back
  the moment it ends. So the transaction holds the lock for its own work only, never for a
  wait for the loop: the hand-offs to a thread for the ``BEGIN`` and the ``COMMIT`` had
  stretched every hold by a turn of the loop each (3 ms on average under the benchmark, 40%
  of all the time the lock was held, and the lock was held all the time);
- a writer that finds the lock file taken by another process's writer does not wait for it
  in a thread (which then held the lock until the loop came round to it): it waits its turn
  among this process's writers (:mod:`hub.store.write_turns`), then looks again after a short
  sleep, and begins in the same turn of the loop that finds the lock free;
- what may wait long runs in a small pool of threads of its own, as with aiosqlite: every
  statement outside a write transaction (reads: the dashboard's, an export's), and the
  ``BEGIN`` of a writer that finds SQLite's lock held by a writer outside the queue (the
  sqlite3 shell, a migration), which waits in SQLite's busy handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, Any

from hub.store import write_lock
from hub.store.write_turns import WriteTurns

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

#: How long a writer first sleeps when another process's writer holds the lock file,
#: doubling up to :data:`_LONGEST_PAUSE`: the pause delays only the writer that waits, while
#: the lock goes to whichever writer is ready, never to one that must wait for the loop.
_FIRST_PAUSE = 0.0005
_LONGEST_PAUSE = 0.002


class InLoopConnection:
    """An aiosqlite-like connection (module docstring). Not shared between tasks at once:
    SQLAlchemy's pool hands one connection to one session at a time."""

    def __init__(self, connection: sqlite3.Connection, executor: ThreadPoolExecutor,
                 busy_ms: int, turns: WriteTurns, loop: asyncio.AbstractEventLoop) -> None:
        self._conn = connection
        self._loop = loop
        #: The engine's writers in this process, one after another.
        self._turns = turns
        #: Whether this connection has the turn (from its ``BEGIN`` to its end).
        self._has_turn = False
        #: SQLite's busy timeout (ms), but for the try of :meth:`_begin_now`.
        self.busy_ms = busy_ms
        #: What SQLAlchemy's adapter reads to tell an open connection (None once closed).
        self._connection: sqlite3.Connection | None = connection
        self._executor = executor
        #: Whether a write transaction holds the lock (its statements run on the loop).
        self.writing = False
        self._lock: write_lock.WriteLock | None = None
        #: Where SQLAlchemy's adapter queues a change of isolation level, as aiosqlite's.
        self._tx = _Calls(self)
        #: One call into sqlite3 at a time (the sqlite3 docs ask it of a connection shared
        #: between threads): a task cancelled while its call runs in a thread leaves that call
        #: running, and the next one, on the loop or in another thread, waits for it.
        self._busy = threading.Lock()

    def now(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run ``function`` on this thread, once no other call of this connection runs."""
        with self._busy:
            return function(*args)

    def write_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        """Run ``sql`` once per row of parameters inside this connection's write transaction,
        on the loop's thread (:mod:`hub.store.bulk`)."""
        if not self.writing:
            raise RuntimeError("write_many outside a write transaction")
        self.now(self._conn.executemany, sql, rows)

    def write_returning(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Run one statement that returns rows inside this connection's write transaction,
        on the loop's thread, and fetch them (:mod:`hub.store.bulk`)."""
        if not self.writing:
            raise RuntimeError("write_returning outside a write transaction")

        def run() -> list[tuple[Any, ...]]:
            cursor = self._conn.execute(sql, params)
            try:
                return cursor.fetchall()
            finally:
                cursor.close()

        return self.now(run)

    def parameter_limit(self) -> int:
        """How many parameters one statement may take on this connection."""
        return self._conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)

    async def off_loop(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run ``function`` in the driver's threads (as :meth:`now` there)."""
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, partial(self.now, function, *args))

    async def run(self, function: Callable[..., Any], *args: Any) -> Any:
        """Where a call runs (module docstring): on the loop inside a write transaction,
        else in the driver's threads."""
        if self.writing:
            return self.now(function, *args)
        return await self.off_loop(function, *args)

    @property
    def isolation_level(self) -> str | None:
        """The sqlite3 connection's (None: transactions are begun explicitly)."""
        return self._conn.isolation_level

    def cursor(self) -> InLoopCursor:
        """A new cursor."""
        return InLoopCursor(self)

    async def commit(self) -> None:
        """Commit, then give the lock file back (:meth:`_finish`: where)."""
        await self._finish(self._conn.commit)

    async def rollback(self) -> None:
        """Roll back, then give the lock file back."""
        await self._finish(self._conn.rollback)

    async def _finish(self, finish: Callable[[], None]) -> None:
        """End the transaction on the loop's thread: ending one never waits for a lock (a
        write's end is its fsync, a read's end lets go of its snapshot, and the pool's
        rollback of a connection given back after a commit does nothing), and a hand-off to a
        thread cost more CPU than a small transaction's own work. Only a call of this
        connection still running in a thread (its task was cancelled) is waited for there."""
        if self.writing or not self._busy.locked():
            self.now(self._end, finish)
        else:
            await self.off_loop(self._end, finish)

    def _end(self, finish: Callable[[], None]) -> None:
        try:
            finish()
        except BaseException:
            if self._conn.in_transaction:  # a COMMIT that failed (a deferred constraint)
                with contextlib.suppress(sqlite3.Error):  # must not keep SQLite's lock
                    self._conn.rollback()
            raise
        finally:
            self.writing = False
            if self._lock is not None:
                self._lock.release()
            self._give_turn()

    def _give_turn(self) -> None:
        if self._has_turn:
            self._has_turn = False
            self._turns.done()

    def _give_turn_soon(self) -> None:
        """Give the turn back from a normal callback of the loop: :meth:`stop` may run in
        any thread, or inside the loop's own code when the garbage collector finalizes an
        abandoned connection, where :class:`WriteTurns` must not be changed."""
        if self._has_turn:
            self._has_turn = False
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                self._loop.call_soon_threadsafe(self._turns.done)

    async def begin(self, cursor: sqlite3.Cursor) -> None:
        """Begin a write transaction once it is this connection's turn in its process
        (:mod:`hub.store.write_turns`), on the loop's thread whenever it can (module
        docstring): while another process's writer holds the lock file, look again after a
        short sleep; only a writer outside the queue (SQLite's lock held without the file's)
        is waited for in a thread, in SQLite's busy handler."""
        try:
            self._has_turn = await self._turns.wait(write_lock.HOLD_LIMIT_SECONDS)
            await self._begin_in_turn(cursor)
        except BaseException:
            self._give_turn()
            raise

    async def _begin_in_turn(self, cursor: sqlite3.Cursor) -> None:
        lock = self._lock
        pause = _FIRST_PAUSE
        while lock is not None and not lock.closed:
            if lock.try_acquire():
                with self._busy:
                    if self._begin_now(cursor, lock):
                        return
                break  # the lock file is ours; SQLite's lock is not: wait for it in a thread
            await asyncio.sleep(pause)
            pause = min(pause * 2, _LONGEST_PAUSE)
        await self.off_loop(cursor.execute, write_lock.BEGIN)
        if lock is not None:
            lock.begun = True

    def _begin_now(self, cursor: sqlite3.Cursor, lock: write_lock.WriteLock) -> bool:
        cursor.execute("PRAGMA busy_timeout=0")  # a writer outside the queue: do not wait here
        try:
            cursor.execute(write_lock.BEGIN)
        except sqlite3.OperationalError:  # "database is locked": wait in a thread
            return False
        finally:
            cursor.execute(f"PRAGMA busy_timeout={self.busy_ms}")
        lock.begun = True
        return True

    async def close(self) -> None:
        """Close the connection."""
        self._give_turn()
        if self._connection is not None:
            self._connection = None
            await self.off_loop(self._conn.close)

    def stop(self) -> None:
        """Close at once (SQLAlchemy's terminate, outside any event loop)."""
        self._give_turn_soon()
        self._connection = None
        self.now(self._conn.close)

    def use_write_lock(self, lock: write_lock.WriteLock) -> None:
        """Order this connection's write transactions by ``lock``: taken before each
        ``BEGIN IMMEDIATE``, given back at each transaction's end."""
        self._lock = lock

    async def set_trace_callback(self, callback: Callable[[str], None] | None) -> None:
        """SQLite's trace callback. The hub sets none (:mod:`hub.store.write_lock` says why)."""
        self._conn.set_trace_callback(callback)

    async def set_authorizer(self, callback: Callable[..., int] | None) -> None:
        """SQLite's authorizer (called as statements are compiled)."""
        self._conn.set_authorizer(callback)

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        """sqlite3's create_function."""
        self._conn.create_function(*args, **kwargs)


class _Calls:
    """aiosqlite's queue of calls, as SQLAlchemy's adapter uses it to set the isolation level
    (``put_nowait((future, function))``): the call runs in the driver's threads."""

    def __init__(self, connection: InLoopConnection) -> None:
        self._connection = connection

    def put_nowait(self, item: tuple[asyncio.Future, Callable[[], Any]]) -> None:
        """Run ``function`` off the loop and settle ``future`` with its outcome."""
        future, function = item
        done = asyncio.ensure_future(self._connection.off_loop(function))

        def settle(task: asyncio.Future) -> None:
            if future.cancelled():
                return
            if task.exception() is not None:
                future.set_exception(task.exception())
            else:
                future.set_result(task.result())

        done.add_done_callback(settle)


class InLoopCursor:
    """An aiosqlite-like cursor of an :class:`InLoopConnection`."""

    def __init__(self, connection: InLoopConnection) -> None:
        self._owner = connection
        self._cursor = connection._conn.cursor()

    async def __aenter__(self) -> InLoopCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        """The cursor's description."""
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        """Rows changed by the last statement."""
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        """The last inserted rowid."""
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        """Rows fetchmany returns by default."""
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Sequence[Any] | dict = ()) -> InLoopCursor:
        """Run one statement: on the loop inside a write transaction, else in a thread."""
        owner = self._owner
        if sql == write_lock.BEGIN and not owner.writing:
            await owner.begin(self._cursor)
            owner.writing = True
        else:
            await owner.run(self._cursor.execute, sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> InLoopCursor:
        """Run one statement for each set of parameters."""
        await self._owner.run(self._cursor.executemany, sql, parameters)
        return self

    async def fetchall(self) -> list[Any]:
        """The remaining rows."""
        return await self._owner.run(self._cursor.fetchall)

    async def fetchone(self) -> Any:
        """The next row."""
        return await self._owner.run(self._cursor.fetchone)

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        """The next ``size`` rows."""
        size = self._cursor.arraysize if size is None else size
        return await self._owner.run(self._cursor.fetchmany, size)

    async def close(self) -> None:
        """Close the cursor."""
        self._cursor.close()

    def __aiter__(self) -> InLoopCursor:
        return self

    async def __anext__(self) -> Any:
        row = await self.fetchone()
        if row is None:
            raise StopAsyncIteration
        return row


def connector(args: Sequence[Any], kwargs: dict[str, Any], threads: int
              ) -> Callable[[], Any]:
    """The ``async_creator`` of an engine: opens ``sqlite3.connect(*args, **kwargs)`` in the
    driver's threads (``threads`` of them, one per pooled connection)."""
    executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sqlite")
    turns = WriteTurns()

    async def connect() -> InLoopConnection:
        def open_connection() -> sqlite3.Connection:
            return sqlite3.connect(*args, **{**kwargs, "check_same_thread": False,
                                             "isolation_level": None})
        loop = asyncio.get_running_loop()
        connection = await loop.run_in_executor(executor, open_connection)
        return InLoopConnection(connection, executor, round(kwargs.get("timeout", 5) * 1000),
                                turns, loop)

    return connect
