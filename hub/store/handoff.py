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
"""

from __future__ import annotations

import time
from collections import deque
from datetime import datetime, timedelta
from typing import Generic, TypeVar

T = TypeVar("T")


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
        return items
