"""When a worker may take over another worker's sends.

A send whose lease ran out is taken over as its worker's: that worker died, or it could not
renew the lease. While the database is away nobody can renew, so after an outage longer than
what was left of a lease every send then in flight looks abandoned, though its worker lives
and is waiting to write the outcome. Taking one over sends an email again (an SMS waits for
the provider's answer instead: :mod:`hub.delivery.reconcile`).

So a worker that has just seen the database fail takes over no started send (a row with a
send intent, :mod:`hub.delivery.intent`) until a lease has passed since the last failure it
saw: meanwhile every living worker renews its leases (the lease keeper tries again soon after
a failed renewal) and writes its outcomes (tried again for as long as the database is away).
Rows no call started for are taken at once, as before: their owner, if it lives, finds its
lease gone when it records the intent, and does not call.

What it does not cover (docs/reliability.md): a worker that starts just after an outage starts
with the gate open (its start-up, seconds, normally outlasts the survivors' first renewal,
within 0.5 s of the database's return); and a database that hangs rather than refuses (a
network that drops packets) is seen to fail only when its statements time out.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable


class TakeoverGate:
    """Whether this worker may take over started sends whose lease ran out (module docstring).

    :param lease_seconds: how long after the last failure this worker saw the gate opens.
    :param clock: monotonic seconds (tests pass their own).
    """

    def __init__(self, lease_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.lease_seconds = lease_seconds
        self._clock = clock
        self._opens_at = float("-inf")

    def database_failed(self) -> None:
        """A statement of this worker's could not reach the database just now."""
        self._opens_at = max(self._opens_at, self._clock() + self.lease_seconds)

    @property
    def open(self) -> bool:
        """Whether started sends whose lease ran out may be taken over now."""
        return self._clock() >= self._opens_at
