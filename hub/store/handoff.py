"""Hand-offs: rows leased at insert and passed, in memory, to this process's next stage.

An event this process has just stored, or a notification it has just planned, need not be
claimed and read back from the database by the same process: the row is written already
leased to the local worker (as a claim would have leased it), and the worker gets the values
it needs from memory once the writing transaction has committed. The claim stays for
everything else: rows written without a lease (the local queue was full, or no local worker
runs here), rows of a worker that died (its leases run out), retries and other nodes' rows.

A handed-off row that waits in the queue until its lease is half gone is taken out of the
queue, not worked on: the worker gives its lease back (:meth:`Handoff.take_stale`) and a claim
takes it at once, so a lease is never worked on near its end and the row does not wait for it.

While rows are queued the worker still claims, at most once per ``claim_interval``: the rows
only a claim reaches (a backlog written unleased when the queue was full, retries, recovery,
other nodes' rows) keep moving however steady the hand-offs are.

The stage that feeds a queue may keep pace with its worker (:meth:`Handoff.room`): the inbox
processor waits while the dispatcher's queue is over half full, so that under a burst the
notifications it plans are still handed over rather than written unleased and read back by
claims (measured: a thousand of 6,000 were, before it waited).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from datetime import datetime, timedelta
from typing import Generic, TypeVar

T = TypeVar("T")

#: A worker that has taken nothing for this many of a feeder's waits is stuck (a provider
#: that hangs every send slot): its feeder stops waiting for it until it takes rows again.
#: A busy worker, all its send slots in flight, still takes one row per finished send.
STALLED_AFTER = 8


class Handoff(Generic[T]):
    """The in-memory queue of one kind of leased row for the local worker ``owner``.

    :param capacity: rows the queue may hold; beyond it, new rows are written unleased and
        reach the worker through its claims (so a backlog stays in the database, not in memory).
    :param claim_interval: seconds between the worker's claims while rows are queued.
    """

    def __init__(self, owner: str, lease_seconds: float, capacity: int,
                 claim_interval: float) -> None:
        self.owner = owner
        self.lease = timedelta(seconds=lease_seconds)
        self.capacity = capacity
        self.claim_interval = claim_interval
        self._next_claim = 0.0
        self._queue: deque[tuple[datetime, T]] = deque()
        self._stale: list[tuple[datetime, T]] = []
        #: Rows handed off, and rows dropped from the queue because their lease ran low.
        self.handed = 0
        self.dropped = 0
        #: Whether the worker's loop runs (:meth:`room` waits for nothing else; see
        #: :meth:`worker_started`, :meth:`worker_stopped`).
        self.worker_running = False
        #: Stages waiting for the queue to shrink (:meth:`room`), and when the worker last
        #: took rows (monotonic).
        self._waiting: list[asyncio.Future[None]] = []
        self._last_take = time.monotonic()

    @property
    def queued(self) -> int:
        """Rows waiting in the queue."""
        return len(self._queue)

    def lease_for(self, count: int, now: datetime) -> datetime | None:
        """The lease end to write on ``count`` new rows that will be handed off, or None when
        the queue has no room for them (write them unleased then)."""
        if len(self._queue) + count > self.capacity:
            return None
        return now + self.lease

    async def room(self, patience: float) -> int | None:
        """How many rows the queue has room for once it holds at most half its capacity,
        waiting at most ``patience`` seconds for the worker to take them: the stage that
        feeds it goes no faster than the worker, so that what it writes is handed off, not
        written unleased for a claim to read back. None when the worker did not make room
        in time, and at once while it is not running or has taken nothing for
        :data:`STALLED_AFTER` waits' time (it is stuck behind a hung provider): feed it as
        before then."""
        if self._over_half():
            if not self.worker_running or \
                    time.monotonic() - self._last_take > STALLED_AFTER * patience:
                return None
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiting.append(waiter)
            try:
                async with asyncio.timeout(patience):
                    await waiter
            except TimeoutError:
                return None
            finally:
                if waiter in self._waiting:
                    self._waiting.remove(waiter)
            if not self.worker_running:
                return None
        return self.capacity - len(self._queue)

    def worker_started(self) -> None:
        """The worker's loop runs: a feeder may wait for it to make room."""
        self.worker_running = True
        self._last_take = time.monotonic()

    def worker_stopped(self) -> None:
        """The worker's loop has ended: whoever waits for room stops waiting."""
        self.worker_running = False
        self._wake(everyone=True)

    def _over_half(self) -> bool:
        return len(self._queue) > self.capacity // 2

    def _wake(self, *, everyone: bool = False) -> None:
        if everyone or not self._over_half():
            waiting, self._waiting = self._waiting, []
            for waiter in waiting:
                if not waiter.done():
                    waiter.set_result(None)

    def claim_is_due(self) -> bool:
        """Whether the worker should claim from the store now: whenever nothing is queued,
        else once per ``claim_interval``."""
        now = time.monotonic()
        if self._queue and now < self._next_claim:
            return False
        self._next_claim = now + self.claim_interval
        return True

    def put(self, items: list[tuple[datetime, T]]) -> None:
        """Queue committed rows, each with the lease end written on it."""
        self._queue.extend(items)
        self.handed += len(items)

    def take(self, limit: int, now: datetime) -> list[T]:
        """Up to ``limit`` queued rows whose lease has at least half its time left; rows past
        that are set aside for :meth:`take_stale`."""
        taken: list[T] = []
        fresh_until = now + self.lease / 2
        while self._queue and len(taken) < limit:
            lease_until, item = self._queue.popleft()
            if lease_until < fresh_until:
                self.dropped += 1
                self._stale.append((lease_until, item))
                continue
            taken.append(item)
        if taken:
            self._last_take = time.monotonic()
            if self._waiting:
                self._wake()
        return taken

    def take_stale(self) -> list[tuple[datetime, T]]:
        """The rows :meth:`take` set aside, with the lease end written on each: the worker
        gives back the leases that still end then (a claim that took a row over after its
        lease ran out wrote another end)."""
        stale, self._stale = self._stale, []
        return stale

    def take_all(self) -> list[tuple[datetime, T]]:
        """Empty the queue, rows with their lease ends (a stopping worker gives them back)."""
        items = [*self._queue, *self.take_stale()]
        self._queue.clear()
        self._wake()
        return items
