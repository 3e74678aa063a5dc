"""Circuit breakers, one per provider instance.

A breaker opens after ``threshold`` consecutive failures; while open, failover skips the
provider without waiting for its timeouts. After ``cooldown`` it lets one probe through
(half-open): success closes it, failure opens it again. A misconfigured provider (bad key)
opens at once. State is per process; transitions are reported to ``on_change`` so they can be
recorded for ``returnhub status`` and the admin surfaces.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


@dataclass(slots=True)
class CircuitBreaker:
    """The breaker of one provider."""

    name: str
    threshold: int = 5
    cooldown: float = 30.0
    on_change: Callable[[CircuitBreaker], None] | None = None
    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    last_error: str | None = None
    opened_at: float | None = None
    _probing: bool = field(default=False, repr=False)

    @property
    def state(self) -> str:
        """closed, open, or half_open (open and cooled down)."""
        if self.opened_at is None:
            return CLOSED
        return HALF_OPEN if self.clock() - self.opened_at >= self.cooldown else OPEN

    def retry_in(self) -> float:
        """Seconds until an open breaker lets a probe through (0 when it would now)."""
        if self.opened_at is None:
            return 0.0
        return max(0.0, self.cooldown - (self.clock() - self.opened_at))

    def allow(self) -> bool:
        """Whether a request may go to the provider now; half-open allows one probe at a time."""
        state = self.state
        if state == CLOSED:
            return True
        if state == HALF_OPEN and not self._probing:
            self._probing = True
            return True
        return False

    def record_success(self) -> None:
        """The provider answered (even with a refusal of one recipient)."""
        self._probing = False
        changed = self.opened_at is not None
        self.failures, self.opened_at, self.last_error = 0, None, None
        if changed:
            self._notify()

    def record_no_verdict(self) -> None:
        """The provider was busy (rate limited): neither a success nor a failure, but a
        half-open probe is over, so that the next request may probe again."""
        self._probing = False

    def record_failure(self, error: str, *, force_open: bool = False) -> None:
        """The provider failed; opens at the threshold, or at once with ``force_open``."""
        before = self.state
        self._probing = False
        self.failures += 1
        self.last_error = error[:300]
        if before == OPEN:
            return  # a request sent before the breaker opened: the cooldown runs on
        if before == HALF_OPEN or force_open or self.failures >= self.threshold:
            self.opened_at = self.clock()  # (re)start the cooldown
            self._notify()

    def _notify(self) -> None:
        if self.on_change is not None:
            self.on_change(self)
