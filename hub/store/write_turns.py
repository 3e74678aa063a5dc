"""The write transactions of one process, one after another in the order they asked.

SQLite lets one transaction write at a time, and the driver (:mod:`hub.store.sqlite_driver`)
takes the lock file for it on the event loop's thread, looking again after a short sleep while
another writer holds it. Left to that alone, the writers of one process would race each
other: a writer that has just arrived looks at once while one that has waited sleeps, so the
webhooks' frequent, short group commits kept beating the applier's and the dispatcher's
transactions and the stages after ingress fell behind. So a process's writers queue here
first (in asyncio, costing no thread and no turn of the loop) and only the first in line
looks for the lock file; between processes the lock file decides.
"""

from __future__ import annotations

import asyncio
from collections import deque


class WriteTurns:
    """This process's writers of one database, in line (one event loop; not thread-safe)."""

    def __init__(self) -> None:
        self._taken = False
        self._line: deque[asyncio.Future[None]] = deque()

    async def wait(self, limit: float) -> bool:
        """Wait for the caller's turn (at once when nobody writes or waits); True once it
        has it. False after ``limit`` seconds in line: a transaction has held the turn that
        long (a bug the lock file's watchdog reports), and the caller goes on outside the
        line, to wait for the lock itself as writers did before there was one."""
        if not self._taken and not self._line:
            self._taken = True
            return True
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._line.append(turn)
        try:
            async with asyncio.timeout(limit):
                await turn
        except TimeoutError:
            self._leave(turn)
            return False
        except asyncio.CancelledError:
            self._leave(turn)
            raise
        return True

    def _leave(self, turn: asyncio.Future[None]) -> None:
        try:
            self._line.remove(turn)
        except ValueError:  # the turn was given as the wait ended: pass it on
            self.done()

    def done(self) -> None:
        """End the caller's turn and give it to the next writer in line (on the loop's
        thread, from a normal callback: never from a finalizer or another thread). A writer
        whose wait has just ended (cancelled, timed out) still gets it, and passes it on."""
        if self._line:
            turn = self._line.popleft()
            if not turn.done():
                turn.set_result(None)
        else:
            self._taken = False
