"""SQLite's writers, queued in the kernel instead of sleeping in SQLite's busy handler.

SQLite lets one transaction write at a time. A connection that finds the database locked
waits in SQLite's busy handler, which *sleeps* (1, 2, 5, 10 ... then 100 ms at a time) and
tries again; it is not woken when the lock is freed. With the hub's processes and their
pools all writing, a webhook's group commit could sleep seconds behind short transactions
while the CPU idled (measured under the benchmark: ``BEGIN IMMEDIATE`` waited 187 ms at p90
and 2 s at p99, 50 s in all over a 20 s run).

So every write transaction of the hub's engine first takes an exclusive ``flock`` on a file
beside the database, in the driver's thread (the database calls already run there), and the
kernel hands the lock to a waiter the moment it is released; SQLite's own lock is then free
at once. The lock is taken by SQLite's trace callback as it starts ``BEGIN IMMEDIATE``: no
round trip of its own (each costs the transaction, which holds the lock, two turns of a busy
event loop).
The lock is given back when the connection returns to the pool, right after its commit or
rollback. It only orders the hub's own writers: correctness still rests on SQLite's lock
(anything else that opens the database, the sqlite3 shell or a migration, is kept out by
it as before), and a process that dies drops its ``flock`` with its file descriptors.
"""

from __future__ import annotations

import fcntl
import os
from typing import Any

try:
    from sqlalchemy.util import await_
except ImportError:  # SQLAlchemy 2.0
    from sqlalchemy.util import await_only as await_

#: The statement that starts the engine's write transactions (hub.store.engine).
BEGIN = "BEGIN IMMEDIATE"


def lock_path(database_path: str) -> str:
    """The lock file of a database file."""
    return f"{database_path}.writelock"


class WriteLock:
    """One connection's hold on the database's lock file (its own open file description, so
    two connections of one process exclude each other like two processes do)."""

    __slots__ = ("fd", "held")

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self.held = False

    def acquire(self) -> None:
        """Wait for the lock (in the connection's thread)."""
        if not self.held:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
            self.held = True

    def traced(self, statement: str) -> None:
        """SQLite's trace callback: take the lock as a write transaction begins."""
        if statement == BEGIN:
            self.acquire()

    def release(self) -> None:
        """Give the lock back (never blocks)."""
        if self.held:
            self.held = False
            fcntl.flock(self.fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close the file (which releases the lock)."""
        self.held = False
        os.close(self.fd)


def install(record: Any, database_path: str) -> None:
    """Give a new pooled connection (``record``, a SQLAlchemy pool entry) its lock, taken
    whenever the connection begins a write transaction."""
    lock = WriteLock(lock_path(database_path))
    record.info["write_lock"] = lock
    await_(record.driver_connection.set_trace_callback(lock.traced))


def release(record_info: dict) -> None:
    """Release the lock of a connection that went back to the pool."""
    lock = record_info.get("write_lock")
    if lock is not None:
        lock.release()


def close(record_info: dict) -> None:
    """Close the lock of a connection that was closed."""
    lock = record_info.pop("write_lock", None)
    if lock is not None:
        lock.close()
