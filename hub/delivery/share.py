"""How much of the dispatcher campaign messages may hold: transactional messages are claimed
first, and campaign messages (outbox ``priority`` above 0) only fill spare capacity: none in
a claim that found transactional work, and never more than a share of ``worker.concurrency``
(``campaigns.share``) in flight, so a send slot is always free for an approval email however
large the campaign."""

from __future__ import annotations

import math


class CampaignShare:
    """Counts the campaign sends in flight against their cap."""

    def __init__(self, concurrency: int, share: float) -> None:
        self.cap = max(1, math.floor(concurrency * share))
        self.inflight = 0

    def spare(self, free: int, transactional_busy: int = 0) -> int:
        """How many campaign messages a claim with ``free`` slots left may take: none in a
        claim that found transactional messages (their rendering and outcome writes come
        first), else up to the cap."""
        if transactional_busy > 0:
            return 0
        return max(0, min(free, self.cap - self.inflight))

    def take(self) -> None:
        """A campaign send started."""
        self.inflight += 1

    def release(self, _task: object = None) -> None:
        """A campaign send finished (usable as a task's done callback)."""
        self.inflight -= 1
