"""The inbox: received events, stored before the platform gets its 2xx.

Rows go through a :class:`~hub.store.group_commit.GroupCommitter`, so many concurrent webhooks
share one transaction; nothing is acknowledged before its transaction has committed. The
unique key (source, source event id) makes a re-delivered webhook a no-op.

An event the store cannot hold is refused before it joins a group
(:func:`hub.store.storable.check_storable`); one the database still refuses fails alone (the
committer retries its group item by item) and is refused too, so the platform stops retrying
it. Any other failure (the database is down) propagates: the caller answers 503.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, bindparam, select, update

from hub.errors import RequestRejected
from hub.identity import tracking_key
from hub.logs import get_logger
from hub.store import claims
from hub.store.batch_rows import fetch_locked, insert_ignoring
from hub.store.bulk import execute_returning
from hub.store.failures import is_refusal, safe_error
from hub.store.group_commit import GroupCommitter
from hub.store.models import InboxEvent
from hub.store.storable import check_storable

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from sqlalchemy import BindParameter, ColumnElement
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from hub.events import ReturnEvent
    from hub.store.codec import EventCodec
    from hub.store.handoff import Handoff

log = get_logger("hub.inbox")

_INBOX = InboxEvent.__table__


@dataclass(slots=True)
class ClaimedEvent:
    """An inbox row leased to a worker, decrypted (claimed, or handed off at insert)."""

    inbox_id: int
    event: ReturnEvent
    received_at: datetime
    attempts: int
    #: The lease end written on the row when it was read (by the claim, or at insert): the
    #: event may be applied only while the row still has it (:func:`still_leased`).
    lease_until: datetime


class InboxWriter:
    """Stores events durably; :meth:`submit` says which were new and which were duplicates.

    :param on_new: called after a commit that added rows (wakes the workers).
    """

    def __init__(self, sessionmaker: async_sessionmaker, codec: EventCodec,
                 on_new: Callable[[], None] | None = None) -> None:
        self._codec = codec
        self._on_new = on_new
        self._committer: GroupCommitter[list[dict], list[int | None]] = GroupCommitter(
            sessionmaker, _write_rows, name="inbox", size_of=len,
            after_commit=(lambda results: on_new() if on_new and _any_new(results) else None))
        #: The local inbox processor's hand-off (set where one runs in this process).
        self.handoff: Handoff[ClaimedEvent] | None = None

    @property
    def committer(self) -> GroupCommitter[list[dict], list[bool]]:
        """The group committer (its ``commits`` and ``isolated_groups`` counts)."""
        return self._committer

    async def start(self) -> None:
        """Start the commit loop."""
        await self._committer.start()

    async def stop(self) -> None:
        """Commit what is queued, then stop."""
        await self._committer.stop()

    def rows_for(self, events: list[ReturnEvent], received_at: datetime,
                 lease_until: datetime | None = None,
                 texts: list[str] | None = None) -> list[dict]:
        """Inbox rows (payload encrypted) for the events of one request; with
        ``lease_until``, leased to the local processor. ``texts``: the events' JSON, when
        :func:`~hub.store.storable.check_storable` made it."""
        owner = self.handoff.owner if lease_until is not None and self.handoff else None
        return [{
            "source": event.source,
            "source_event_id": event.source_event_id,
            "event_type": event.type.value,
            "return_ref": event.return_id,
            "tracking_number": tracking_key(event.tracking.number) if event.tracking else None,
            "occurred_at": event.occurred_at,
            "received_at": received_at,
            "available_at": received_at,
            "payload_enc": self._codec.encode(event, text),
            "status": "pending",
            "attempts": 0,
            "lease_owner": owner,
            "lease_until": lease_until if owner else None,
        } for event, text in zip(events, texts or [None] * len(events), strict=True)]

    async def submit(self, events: list[ReturnEvent], received_at: datetime) -> list[bool]:
        """Store events durably; for each, True if new, False if already in the inbox.

        Raises :class:`~hub.errors.RequestRejected` (422) for events the store cannot hold;
        nothing of the call is stored then."""
        if not events:
            return []
        texts = [check_storable(event) for event in events]
        handoff = self.handoff
        lease_until = handoff.lease_for(len(events), received_at) if handoff is not None else None
        committed = self._committer.enqueue(self.rows_for(events, received_at, lease_until,
                                                          texts))
        if lease_until is not None:
            # On the commit, not on this call's return: a caller that stopped waiting (a
            # webhook answered 503 after ``store_wait_seconds``) still has its events applied
            # at once, not after their lease.
            committed.add_done_callback(
                lambda done: self._hand_off(done, events, received_at, lease_until))
        try:
            ids = await asyncio.shield(committed)
        except Exception as exc:
            if not is_refusal(exc):
                raise
            log.warning("inbox_event_refused", source=events[0].source, error=safe_error(exc))
            raise RequestRejected("the database refused this event; it cannot be stored",
                                  code="unstorable_event") from None
        return [inbox_id is not None for inbox_id in ids]

    def _hand_off(self, committed: asyncio.Future[list[int | None]], events: list[ReturnEvent],
                  received_at: datetime, lease_until: datetime) -> None:
        """Hand the committed new events to this process's processor, leased as written."""
        if self.handoff is None or committed.cancelled() or committed.exception() is not None:
            return
        handed = [(lease_until, ClaimedEvent(inbox_id, event, received_at, 0, lease_until))
                  for inbox_id, event in zip(committed.result(), events, strict=True)
                  if inbox_id]
        if handed:
            self.handoff.put(handed)
            if self._on_new is not None:
                self._on_new()  # the commit's wake-up may have found the queue empty


def _leased_to(owner: str | BindParameter[str]) -> ColumnElement[bool]:
    """Pending and leased to ``owner``: with the lease end the worker read it under, the row
    its copy of the event may still be applied (or failed) from. An erasure clears the lease
    of the pending rows it strips; a claim that took the row over wrote another lease end."""
    return and_(_INBOX.c.status == "pending", _INBOX.c.lease_owner == owner)


#: The rows of ``ids`` still pending and leased to ``owner``, with their lease end.
_STILL_LEASED = select(_INBOX.c.id, _INBOX.c.lease_until).where(
    _INBOX.c.id.in_(bindparam("ids", expanding=True)),
    _leased_to(bindparam("owner", type_=_INBOX.c.lease_owner.type))
).order_by(_INBOX.c.id)


async def still_leased(session: AsyncSession, owner: str, items: list[ClaimedEvent]
                       ) -> list[ClaimedEvent]:
    """The ``items`` whose row is still pending and leased to ``owner`` with the lease end
    the item was read under, locked until the transaction ends (PostgreSQL; SQLite's write
    transaction is exclusive already). An erasure clears the lease of the pending rows it
    strips, so the copy read before it (a claimed or handed event, in memory) is left out,
    and the row is claimed again, stripped; so is a copy whose row a claim took over."""
    if not items:
        return []
    held = dict(await fetch_locked(session, _STILL_LEASED, {
        "ids": sorted({item.inbox_id for item in items}), "owner": owner}))
    # The lease end compared here, per item, rather than in the statement: an IN list of
    # (id, lease end) pairs would not use the primary key on SQLite.
    return [item for item in items if held.get(item.inbox_id) == item.lease_until]


async def record_failure(session: AsyncSession, owner: str, inbox_id: int,
                         lease_until: datetime, **values: Any) -> bool:
    """Write a failed try's ``values`` on the row ``inbox_id`` if ``owner`` still holds it as
    :func:`still_leased` would (pending, with the lease end ``lease_until`` the copy was read
    under), and clear its lease; returns whether it did. A row another worker has taken over
    (after an erasure, or once the lease ran out), and perhaps applied, is left alone."""
    result = await session.execute(update(_INBOX).where(
        _INBOX.c.id == inbox_id, _leased_to(owner), _INBOX.c.lease_until == lease_until,
    ).values(**values, lease_owner=None, lease_until=None))
    return result.rowcount == 1


async def release(session: AsyncSession, leases: list[tuple[datetime, int]]) -> None:
    """Give back the leases of queued hand-offs (by lease end and inbox id): any worker
    may claim them at once. A row whose lease ends otherwise now was taken over by a claim,
    and is left alone."""
    await claims.release(session, _RELEASE, leases)


_RELEASE = claims.release_statement(_INBOX, _INBOX.c.status == "pending")


def _any_new(results: list[list[int | None]]) -> bool:
    return any(inbox_id is not None for ids in results for inbox_id in ids)


def _insert_new(session: AsyncSession) -> Any:
    """``INSERT`` of new deliveries, a concurrent copy skipped, ``RETURNING`` id and key."""
    return insert_ignoring(session, _INBOX, "source", "source_event_id",
                           returning=("id", "source", "source_event_id"))


async def _write_rows(session: AsyncSession, requests: list[list[dict]]
                      ) -> list[list[int | None]]:
    """Insert the requests' new rows; for each row, its id if it was inserted, None if the
    delivery was already in the inbox."""
    # No lookup first: the insert skips what the inbox holds and says what it inserted.
    seen: set[tuple[str, str]] = set()
    new_rows = []
    for rows in requests:
        for row in rows:
            key = (row["source"], row["source_event_id"])
            if key not in seen:  # the same delivery twice in one group: the second is old
                seen.add(key)
                new_rows.append(row)
    inserted: dict[tuple[str, str], int] = {}
    if new_rows:
        # Another node may insert the same delivery concurrently; the unique key decides and
        # both answer 2xx. Rows come back in any order: matched by their key.
        returned = await execute_returning(session, _insert_new(session), new_rows)
        inserted = {(source, event_id): inbox_id for inbox_id, source, event_id in returned}
    results: list[list[int | None]] = []
    for rows in requests:
        results.append([inserted.pop((row["source"], row["source_event_id"]), None)
                        for row in rows])
    return results
