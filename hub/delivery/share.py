"""How much of the dispatcher's send slots campaign messages and recovery work may hold.

Campaign messages (outbox ``priority`` above 0) only fill spare capacity: none in a claim that
found transactional work, and never more than a share of ``worker.concurrency``
(``campaigns.share``) in flight, so a send slot is always free for an approval email however
large the campaign.

Recovery work (an ``unknown`` outcome to reconcile, a ``sent`` message past its receipt
deadline, a dead worker's ``sending`` row) is claimed ahead of the pending backlog while fewer
than ``worker.recovery_share`` of the slots hold some; beyond that it waits behind the pending
messages that are due. So a reconcile comes due when it is due, not after the whole backlog,
and an outage that leaves hundreds of outcomes unknown (each reconcile may wait for a
provider's timeout) still leaves the other slots to pending messages.
"""

from __future__ import annotations

import math


class _InFlight:
    """Counts sends of one kind in flight against their cap (a share of the send slots)."""

    def __init__(self, concurrency: int, share: float) -> None:
        self.cap = max(1, math.floor(concurrency * share))
        self.inflight = 0

    def take(self) -> None:
        """A send of this kind started."""
        self.inflight += 1

    def release(self, _task: object = None) -> None:
        """A send of this kind finished (usable as a task's done callback)."""
        self.inflight -= 1


class CampaignShare(_InFlight):
    """Counts the campaign sends in flight against their cap."""

    def spare(self, free: int, transactional_busy: int = 0) -> int:
        """How many campaign messages a claim with ``free`` slots left may take: none in a
        claim that found transactional messages (their rendering and outcome writes come
        first), else up to the cap."""
        if transactional_busy > 0:
            return 0
        return max(0, min(free, self.cap - self.inflight))


class RecoveryShare(_InFlight):
    """Counts the recovery sends in flight (a claimed row whose prior status was not
    ``pending``) against their cap."""

    def ahead(self, free: int) -> int:
        """How many recovery rows a claim of ``free`` slots may take before pending ones."""
        return max(0, min(free, self.cap - self.inflight))
