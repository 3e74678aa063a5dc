"""SQLite's writers, ordered by a lock file instead of sleeping in SQLite's busy handler.

SQLite lets one transaction write at a time. A connection that finds the database locked
waits in SQLite's busy handler, which *sleeps* (1, 2, 5, 10 ... then 100 ms at a time) and
tries again; it is not woken when the lock is freed. With the hub's processes and their
pools all writing, a webhook's group commit could sleep seconds behind short transactions
while the CPU idled (measured under the benchmark: ``BEGIN IMMEDIATE`` waited 187 ms at p90
and 2 s at p99, 50 s in all over a 20 s run).

So every write transaction of the hub's engine first takes an exclusive ``flock`` on a file
beside the database (whose holder a waiter finds within 2 ms of its release, not 100), and
SQLite's own lock is then free at once. The driver (:mod:`hub.store.sqlite_driver`, which
every file database's connection uses) takes it before each ``BEGIN IMMEDIATE``, on the event
loop's thread, without waiting (:meth:`WriteLock.try_acquire`), looking again after a short
sleep while another process's writer has it, and notes when the ``BEGIN`` went through. It
is given back right after the commit or rollback, again (a no-op by then) when the connection
returns to the pool, when it is detached or closed, and by the kernel when a process dies.
An earlier version learnt of each ``BEGIN`` from SQLite's trace callback: with one set,
sqlite3 writes out every statement with its values (blobs as hex) and calls into Python for
each, every row of an ``executemany`` too, 8 to 10 times the statements' own work.

It only orders the hub's own writers: correctness still rests on SQLite's lock (anything
else that opens the database, the sqlite3 shell or a migration, is kept out by it as
before). So whatever goes wrong with the lock file costs the ordering, never data:

- a lock file the process cannot open (another user's, a read-only folder) means no lock
  for that connection, logged once;
- a transaction that holds the lock longer than :data:`HOLD_LIMIT_SECONDS` (a bug: a
  transaction left open across network I/O, or one waiting for another in its own process)
  has it taken away by a watchdog thread and an error logged; so has one whose ``BEGIN``
  has waited over :data:`BEGIN_LIMIT_SECONDS` for SQLite's lock, which then a writer
  outside the queue holds. Either way the writers behind it wait in SQLite's busy handler
  side by side, and fail after its timeout, as they did before the lock file existed,
  instead of waiting for ever or one after another.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
import weakref
from typing import Any

from hub.logs import get_logger

log = get_logger("hub.store.write_lock")

#: The statement that starts the engine's write transactions (hub.store.engine).
BEGIN = "BEGIN IMMEDIATE"
#: The longest a transaction keeps the lock before the watchdog takes it away: SQLite's
#: busy timeout (hub.store.engine), the longest a writer waited before the lock existed.
HOLD_LIMIT_SECONDS = 60.0
#: How long a transaction may hold the lock without getting past its ``BEGIN IMMEDIATE``:
#: longer means SQLite's lock is held by a writer outside the queue (another program, or a
#: transaction whose lock the watchdog took away), and the writers queued behind should wait
#: for SQLite's lock side by side, as they did before the lock file, not one after another.
BEGIN_LIMIT_SECONDS = 1.0
#: How often the watchdog looks.
_WATCH_SECONDS = 0.5

_live: weakref.WeakSet[WriteLock] = weakref.WeakSet()
_live_guard = threading.Lock()
_watchdog: threading.Thread | None = None
_watchdog_started = threading.Lock()
_unopenable_logged: set[str] = set()


def lock_path(database_path: str) -> str:
    """The lock file of a database file."""
    return f"{database_path}.writelock"


class WriteLock:
    """One connection's hold on the database's lock file (its own open file description, so
    two connections of one process exclude each other like two processes do)."""

    __slots__ = ("__weakref__", "_state", "begun", "closed", "fd", "held_since")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        #: When the lock was taken (monotonic), None while not held.
        self.held_since: float | None = None
        #: Whether the transaction holding the lock got past its ``BEGIN IMMEDIATE``.
        self.begun = False
        self.closed = False
        self._state = threading.Lock()

    def try_acquire(self) -> bool:
        """Take the lock if it is free at once (never blocks); whether it is held now."""
        if self.closed:
            return False
        if self.held_since is not None:
            return True
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return self._taken()

    def _taken(self) -> bool:
        """Note that ``flock`` gave the lock; False if the file was closed meanwhile (the
        lock went with it)."""
        with self._state:
            if self.closed:
                return False
            self.held_since, self.begun = time.monotonic(), False
        return True

    def release(self) -> None:
        """Give the lock back (never blocks)."""
        with self._state:
            if self.held_since is not None and not self.closed:
                self.held_since = None
                fcntl.flock(self.fd, fcntl.LOCK_UN)

    def overdue(self, now: float, limit: float, begin_limit: float) -> float | None:
        """How long the lock has been held, when that is over ``limit``, or over
        ``begin_limit`` without the transaction getting past its ``BEGIN`` (it waits in
        SQLite's busy handler for a writer outside the queue); None otherwise."""
        since = self.held_since
        if since is None:
            return None
        held = now - since
        return held if held > limit or (held > begin_limit and not self.begun) else None

    def close(self) -> None:
        """Close the file (which releases the lock)."""
        with self._state:
            if not self.closed:
                self.closed, self.held_since = True, None
                os.close(self.fd)


def install(record: Any, database_path: str) -> None:
    """Give a new pooled connection (``record``, a SQLAlchemy pool entry) its lock, taken
    whenever the connection begins a write transaction. ``database_path`` is the file SQLite
    opened (``PRAGMA database_list``)."""
    fd = _open(lock_path(database_path), database_path)
    if fd is None:
        return
    lock = WriteLock(fd)
    record.driver_connection.use_write_lock(lock)
    record.info["write_lock"] = lock
    with _live_guard:
        _live.add(lock)
    _start_watchdog()


def release(record_info: dict) -> None:
    """Release the lock of a connection that went back to the pool."""
    lock = record_info.get("write_lock")
    if lock is not None:
        lock.release()


def close(record_info: dict) -> None:
    """Close the lock of a connection that was closed or detached from its pool."""
    lock = record_info.pop("write_lock", None)
    if lock is not None:
        lock.close()


def _open(path: str, database_path: str) -> int | None:
    """The lock file, created beside the database with its owner (as SQLite gives its own
    ``-wal`` and ``-shm`` files); None, logged once, when it cannot be opened."""
    flags = os.O_CLOEXEC
    try:
        created = not os.path.exists(path)
        fd = os.open(path, flags | os.O_RDWR | os.O_CREAT, 0o644)
    except PermissionError:
        created = False
        try:  # another user's file: flock needs no write access
            fd = os.open(path, flags | os.O_RDONLY)
        except OSError as exc:
            return _unopenable(path, exc)
    except OSError as exc:
        return _unopenable(path, exc)
    if created and os.geteuid() == 0:
        try:
            owner = os.stat(database_path)
            os.fchown(fd, owner.st_uid, owner.st_gid)
        except OSError:
            pass  # the lock works all the same; only another user could not open it
    return fd


def _unopenable(path: str, exc: OSError) -> None:
    if path not in _unopenable_logged:
        _unopenable_logged.add(path)
        log.warning("write_lock_unavailable", path=path, error=type(exc).__name__)
    return None


def _start_watchdog() -> None:
    global _watchdog
    with _watchdog_started:
        if _watchdog is None or not _watchdog.is_alive():
            _watchdog = threading.Thread(target=_watch, name="sqlite-write-lock-watchdog",
                                         daemon=True)
            _watchdog.start()


def _watch() -> None:
    while True:
        time.sleep(_WATCH_SECONDS)
        try:
            take_away_overdue(time.monotonic())
        except Exception as exc:  # the watchdog must outlive any one bad pass
            log.error("write_lock_watchdog_failed", error=type(exc).__name__)


def take_away_overdue(now: float, limit: float | None = None) -> int:
    """Release every lock of this process held longer than ``limit`` (default
    :data:`HOLD_LIMIT_SECONDS`), or longer than :data:`BEGIN_LIMIT_SECONDS` by a transaction
    still in its ``BEGIN``, logging each; how many were."""
    limit = HOLD_LIMIT_SECONDS if limit is None else limit
    taken = 0
    with _live_guard:
        locks = list(_live)
    for lock in locks:
        held = lock.overdue(now, limit, BEGIN_LIMIT_SECONDS)
        if held is None:
            continue
        began = lock.begun
        lock.release()
        taken += 1
        if began:
            log.error("write_lock_held_too_long", held_seconds=round(held, 1),
                      limit_seconds=limit)
        else:  # a writer outside the queue holds SQLite's lock: wait for it side by side
            log.warning("write_lock_begin_blocked", held_seconds=round(held, 1))
    return taken
