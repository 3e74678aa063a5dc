"""Group commit: many concurrent writers share one transaction (and one fsync).

Each :meth:`GroupCommitter.submit` call waits until its item is committed. Items that queue
while a commit is running go into the next one together, so the commit rate, not the request
rate, bounds the number of transactions.

A group the database refuses for its data (:func:`hub.store.failures.is_refusal`: a value too
long, a NUL byte, a constraint) is committed again item by item, so that one bad item never
costs the others their commit; only the item that fails alone gets the error. A group that
fails for any other reason (the database is down) fails every submitter at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Generic, TypeVar

from hub.logs import get_logger
from hub.store.failures import is_refusal, safe_error

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

T = TypeVar("T")
R = TypeVar("R")
log = get_logger("hub.group_commit")


class GroupCommitter(Generic[T, R]):
    """Runs ``write(session, items) -> results`` (one result per item) in one transaction per
    group; nothing is half-written. A group the database refuses for its data is retried one
    item per transaction; any other failure fails every submitter of the group.

    :param size_of: how much an item counts towards ``max_group`` (e.g. its row count).
    :param after_commit: called with the results after each successful commit.
    """

    def __init__(self, sessionmaker: async_sessionmaker,
                 write: Callable[[AsyncSession, list[T]], Awaitable[list[R]]], *, name: str,
                 max_group: int = 1000, size_of: Callable[[T], int] = lambda _item: 1,
                 after_commit: Callable[[list[R]], None] | None = None) -> None:
        self._sessionmaker = sessionmaker
        self._write = write
        self._name = name
        self._max_group = max_group
        self._size_of = size_of
        self._after_commit = after_commit
        self._queue: asyncio.Queue[tuple[T, asyncio.Future]] = asyncio.Queue()
        self._task: asyncio.Task | None = None
        #: Transactions committed, and groups retried item by item (for tests and metrics).
        self.commits = 0
        self.isolated_groups = 0

    async def start(self) -> None:
        """Start the commit loop."""
        self._task = asyncio.create_task(self._run(), name=f"group-commit-{self._name}")

    async def stop(self) -> None:
        """Commit what is queued, then stop."""
        if self._task is None:
            return
        await self._queue.join()  # everything submitted so far is committed (or failed)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def submit(self, item: T) -> R:
        """Queue ``item`` and wait until it is committed; returns its result."""
        return await self.enqueue(item)

    def enqueue(self, item: T) -> asyncio.Future[R]:
        """Queue ``item``; the future is done once it is committed (its result) or failed.
        Cancelling it only gives up waiting: the item is committed all the same."""
        if self._task is None:
            raise RuntimeError(f"{self._name}: start() was not awaited")
        done: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((item, done))  # unbounded: never raises QueueFull
        return done

    async def _run(self) -> None:
        while True:
            group = [await self._queue.get()]
            size = self._size_of(group[0][0])
            while not self._queue.empty() and size < self._max_group:
                entry = self._queue.get_nowait()
                group.append(entry)
                size += self._size_of(entry[0])
            items = [item for item, _ in group]
            try:
                await self._commit(group, items)
            finally:
                for _ in group:
                    self._queue.task_done()

    async def _commit(self, group: list[tuple[T, asyncio.Future]], items: list[T]) -> None:
        try:
            async with self._sessionmaker() as session, session.begin():
                results = await self._write(session, items)
        except Exception as exc:
            if len(group) > 1 and is_refusal(exc):
                log.warning("group_commit_isolating", writer=self._name, items=len(items),
                            error=safe_error(exc))
                self.isolated_groups += 1
                for entry in group:
                    await self._commit([entry], [entry[0]])
                return
            log.error("group_commit_failed", writer=self._name, items=len(items),
                      error=safe_error(exc))
            for _, done in group:
                if not done.done():
                    done.set_exception(exc)
            return
        self.commits += 1
        for (_, done), result in zip(group, results, strict=True):
            if not done.done():
                done.set_result(result)
        if self._after_commit is not None:
            try:
                self._after_commit(results)
            except Exception as exc:  # a wake-up hook must never stop the writer
                log.error("after_commit_failed", writer=self._name, error=safe_error(exc))
