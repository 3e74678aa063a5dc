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

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select, update

from hub.store.claims import lease_end
from hub.store.direct_reads import fetch
from hub.store.engine import utcnow
from hub.store.group_commit import GroupCommitter
from hub.store.models import Notification

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

#: One intent: notification id, provider, a delivery's first call?, the intent it expects.
_Item = tuple[str, str | None, bool, datetime | None]
#: What the writer returns for a row whose recipient was erased.
_ERASED = object()


class RecipientErased(Exception):
    """The row's recipient was erased (a privacy request) since the worker read it: no call."""


#: Intents whose statements took longer than a lease divided by this write the lease again
#: before they commit.
REFRESH_AFTER = 6


def _intent_statement(*still: Any) -> Any:
    """The intent of the rows ``ids`` this worker (``owner``) leases, those whose recipient
    is still there (not erased since the worker read the row, by a privacy request) and that
    meet ``still``, returning their ids."""
    table = Notification.__table__
    return (update(table).where(
        table.c.id.in_(bindparam("ids", expanding=True)),
        table.c.lease_owner == bindparam("owner", type_=table.c.lease_owner.type),
        table.c.recipient_enc.is_not(None), *still)
        .values(send_started_at=bindparam("now", type_=table.c.send_started_at.type),
                # Not "provider": a bind named as a column of the table is SQLAlchemy's own.
                send_provider=bindparam("intent_provider", type_=table.c.send_provider.type),
                lease_until=bindparam("until", type_=table.c.lease_until.type))
        .returning(table.c.id))


_STARTED = Notification.__table__.c.send_started_at
_ANY_INTENT = _intent_statement()
#: The intent statements by (a delivery's first call?, does it expect an earlier intent?).
_INTENT = {
    (False, False): _ANY_INTENT,
    (False, True): _ANY_INTENT,
    (True, False): _intent_statement(_STARTED.is_(None)),
    (True, True): _intent_statement(
        _STARTED == bindparam("seen", type_=_STARTED.type)),
}


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
        self._writer: GroupCommitter[_Item, object] = GroupCommitter(
            sessionmaker, self._write, name="send-intents")

    async def start(self) -> None:
        """Start the group writer."""
        await self._writer.start()

    async def stop(self) -> None:
        """Commit what is queued, then stop."""
        await self._writer.stop()

    async def record(self, notification_id: str, provider: str | None, *,
                     first: bool = False, seen: datetime | None = None) -> bool:
        """Commit that the call to ``provider`` (None: every provider of the channel) for
        ``notification_id`` starts now. False when this worker no longer leases the row, or,
        for a delivery's ``first`` call, when the row's last intent is no longer ``seen`` (the
        one it had when the delivery took it: another delivery took the row over meanwhile and
        started a call): the call must not start. Raises :class:`RecipientErased` for a row
        whose recipient was erased, and the database's error when it cannot be written (no
        call either). The call starts with a whole lease."""
        recorded = await self._writer.submit((notification_id, provider, first, seen))
        if recorded is _ERASED:
            raise RecipientErased(notification_id)
        return recorded

    def announcer(self, seen: datetime | None) -> Callable[[str, str | None], Awaitable[bool]]:
        """The intents of one delivery, for the router: its first also checks that the row's
        last intent is still ``seen``, the one it had when the delivery took it."""
        calls = 0

        async def announce(notification_id: str, provider: str | None) -> bool:
            nonlocal calls
            calls += 1
            return await self.record(notification_id, provider, first=calls == 1, seen=seen)
        return announce

    async def _write(self, session: AsyncSession, items: list[_Item]) -> list[object]:
        """One statement per provider (and per intent a first call expects); True, False or
        ``_ERASED`` for each item."""
        now, table = utcnow(), Notification.__table__
        until = lease_end(now, self.lease_seconds)
        groups: dict[tuple[str | None, bool, datetime | None], list[str]] = {}
        for notification_id, provider, first, seen in items:
            groups.setdefault((provider, first, seen), []).append(notification_id)
        recorded: set[str] = set()
        for (provider, first, seen), ids in groups.items():
            statement = _INTENT[(first, seen is not None)]
            recorded.update(found for (found,) in await fetch(session, statement, {
                "ids": sorted(ids), "owner": self.owner, "now": now, "intent_provider": provider,
                "until": until, "seen": seen}))
        if recorded and utcnow() - now > timedelta(seconds=self.lease_seconds / REFRESH_AFTER):
            # The statements waited (on PostgreSQL, for rows a claim held): the lease they wrote
            # may run out before the calls start, and a claim would then take the rows over as
            # sends that started (an email sent twice, found in the chaos run). The rows are
            # this transaction's until it commits, so a lease from now is still ours to give.
            await session.execute(update(table).where(table.c.id.in_(sorted(recorded)))
                                  .values(lease_until=lease_end(utcnow(), self.lease_seconds)))
        refused = sorted({item[0] for item in items} - recorded)
        erased: set[str] = set()
        if refused:  # erased rows are still this worker's to write an outcome for
            erased = set((await session.execute(select(table.c.id).where(
                table.c.id.in_(refused), table.c.lease_owner == self.owner,
                table.c.recipient_enc.is_(None)))).scalars())
        return [_ERASED if item[0] in erased else item[0] in recorded for item in items]
