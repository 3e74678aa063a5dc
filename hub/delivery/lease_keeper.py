"""Leases kept while a worker works on its messages: a call slower than its lease is not
taken over.

A notification's lease (``worker.lease_seconds``) is what tells the other workers that the
one holding it is alive. The work on a message can outlast it (a provider answering within
``send_timeout_seconds`` but late, a long reconcile, a provider's rate limit, a starved
process), and a claim would then take the message over as a dead worker's and send it
again. So from the moment the dispatcher starts on a message until its outcome is written,
its lease is moved on every third of a lease, with those of all the others in one
transaction; each provider call also starts with a whole lease (its send intent moves it,
:mod:`hub.delivery.intent`). A worker that dies stops doing that, and its rows are taken over
one lease later, as before. A renewal the database refused is tried again soon (every
``RETRY_SECONDS`` at most), so that the leases are renewed as soon as it is back, before other
workers may take their sends over (:mod:`hub.delivery.takeover`).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from hub.logs import get_logger
from hub.store.claims import lease_end
from hub.store.engine import utcnow
from hub.store.failures import safe_error

if TYPE_CHECKING:
    from collections.abc import Callable

    from hub.store.outbox import Outbox

log = get_logger("hub.lease_keeper")
#: The longest wait before a renewal the database refused is tried again.
RETRY_SECONDS = 0.5


class LeaseKeeper:
    """Keeps this worker's leases on the notifications it is working on.

    :param outbox: the worker's outbox (its lease owner).
    :param lease_seconds: the length of a lease; renewed every third of it.
    :param on_failure: called when a renewal fails (the database is away).
    """

    def __init__(self, outbox: Outbox, lease_seconds: float,
                 on_failure: Callable[[], None] | None = None) -> None:
        self.outbox = outbox
        self.lease_seconds = lease_seconds
        self.on_failure = on_failure
        #: Notifications being worked on (started, no outcome written yet).
        self.open: set[str] = set()
        self._task: asyncio.Task | None = None

    def opened(self, notification_id: str) -> None:
        """The work on ``notification_id`` starts."""
        self.open.add(notification_id)

    def closed(self, notification_id: str) -> None:
        """The work on ``notification_id`` is over (its outcome written, or left to its
        lease)."""
        self.open.discard(notification_id)

    def start(self) -> None:
        """Start renewing."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="lease-keeper")

    async def stop(self) -> None:
        """Stop renewing (the messages still being worked on keep the lease they have)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def renew(self) -> None:
        """Move the leases of the messages being worked on one lease on from now."""
        if self.open:
            await self.outbox.extend(list(self.open), lease_end(utcnow(), self.lease_seconds))

    async def _run(self) -> None:
        period = self.lease_seconds / 3
        wait = period
        while True:
            await asyncio.sleep(wait)  # a period, not a wait for a condition
            try:
                await self.renew()
                wait = period
            except Exception as exc:  # the database is away: try again soon
                log.warning("lease_renewal_failed", calls=len(self.open), error=safe_error(exc))
                wait = min(period, RETRY_SECONDS)
                if self.on_failure is not None:
                    self.on_failure()
