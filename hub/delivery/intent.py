"""Send intents: a durable note, committed just before a provider call, that the call started.

A claimed notification is ``sending`` from the moment its batch is claimed, long before its
provider call (rendering, a provider's rate limit, the batch's other messages come first). If
the worker dies, only a row with an intent may have reached the provider; every other claimed
row is simply pending and is sent normally once its lease runs out. Writes are grouped: the
intents of every send that is about to start while the previous group commits go into one
transaction (one statement per provider), so a batch of 64 sends costs one or two commits.

Every provider call needs one, even to a sink that deduplicates by message id
(``Sink.idempotent``, which a crash could not make send twice): the intent is also where a
worker finds out that a message it holds was called off (a merge of two returns skips one of
two twins and clears its lease, :mod:`hub.store.merging`), whether it claimed the message or
was handed it in memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import update

from hub.store.claims import lease_end
from hub.store.engine import utcnow
from hub.store.group_commit import GroupCommitter
from hub.store.models import Notification

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


class IntentRecorder:
    """Records send intents for the notifications one worker leases.

    :param owner: the worker's lease owner; a row leased by someone else gets no intent, and
        its call must not start.
    :param lease_seconds: the lease each call starts with (the intent moves it; the
        dispatcher's :class:`hub.delivery.lease_keeper.LeaseKeeper` keeps it after).
    """

    def __init__(self, sessionmaker: async_sessionmaker, owner: str,
                 lease_seconds: float) -> None:
        self.owner = owner
        self.lease_seconds = lease_seconds
        self._writer: GroupCommitter[tuple[str, str | None], bool] = GroupCommitter(
            sessionmaker, self._write, name="send-intents")

    async def start(self) -> None:
        """Start the group writer."""
        await self._writer.start()

    async def stop(self) -> None:
        """Commit what is queued, then stop."""
        await self._writer.stop()

    async def record(self, notification_id: str, provider: str | None) -> bool:
        """Commit that the call to ``provider`` (None: every provider of the channel) for
        ``notification_id`` starts now. False when this worker no longer leases the row (the
        call must not start); raises when the database cannot be written (nor then). The
        call starts with a whole lease."""
        return await self._writer.submit((notification_id, provider))

    async def _write(self, session: AsyncSession, items: list[tuple[str, str | None]]
                     ) -> list[bool]:
        now, table = utcnow(), Notification.__table__
        until = lease_end(now, self.lease_seconds)
        by_provider: dict[str | None, list[str]] = {}
        for notification_id, provider in items:
            by_provider.setdefault(provider, []).append(notification_id)
        recorded: set[str] = set()
        for provider, ids in by_provider.items():
            result = await session.execute(
                # No recipient: erased since the worker read the row (a privacy request).
                update(table).where(table.c.id.in_(sorted(ids)), table.c.lease_owner == self.owner,
                                    table.c.recipient_enc.is_not(None))
                .values(send_started_at=now, send_provider=provider, lease_until=until)
                .returning(table.c.id))
            recorded.update(result.scalars())
        return [notification_id in recorded for notification_id, _ in items]
