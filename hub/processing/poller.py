"""Polling sources: the core runs each source's ``poll`` on a schedule.

The cursor is persisted in ``source_cursors`` after the events it covers are durably in the
inbox, so a restart resumes where polling stopped, and the inbox's unique key makes a record
seen twice (a crash between insert and cursor save) a no-op. A lease on the cursor row makes
one node poll a source at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import or_, select, update

from hub.errors import RequestRejected
from hub.logs import get_logger
from hub.notifiable import OnboardingSettings
from hub.processing.onboarding import HistoryFilter
from hub.store.dialect import insert_ignoring_conflicts
from hub.store.engine import utcnow
from hub.store.failures import safe_error
from hub.store.models import SourceCursor
from hub.store.storable import check_storable

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from hub.connectors import Source
    from hub.events import ReturnEvent
    from hub.store.inbox import InboxWriter

log = get_logger("hub.poller")

#: Events stored per inbox commit while polling; the cursor is saved after each group.
POLL_GROUP = 100


class SourcePoller:
    """Polls one source every ``interval`` seconds."""

    def __init__(self, source: Source, interval: float, sessionmaker: async_sessionmaker,
                 inbox: InboxWriter, owner: str, *,
                 onboarding: OnboardingSettings | None = None) -> None:
        self.source = source
        #: What the source's history becomes (hub.processing.onboarding).
        self.onboarding = onboarding or OnboardingSettings()
        self.interval = interval
        self.sessionmaker = sessionmaker
        self.inbox = inbox
        self.owner = owner

    async def run(self) -> None:
        """Poll until cancelled; on the way out, give the lease back so that the next node (or
        this one restarted) polls at once instead of waiting for the lease to run out."""
        try:
            while True:
                try:
                    stored = await self.poll_once()
                    if stored:
                        log.info("source_polled", source=self.source.name, events=stored)
                except Exception as exc:
                    await self._record_error(safe_error(exc))
                    log.warning("source_poll_failed", source=self.source.name,
                                error=type(exc).__name__)
                await asyncio.sleep(self.interval)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._release())

    async def poll_once(self) -> int:
        """One polling pass; returns how many new events were stored (0 without the lease)."""
        lease = await self._lease()
        if lease is False:
            return 0
        cursor, history = lease
        iterator = self.source.poll(cursor)
        if iterator is None:
            return 0
        stored, group, group_cursor = 0, [], cursor
        async for event, new_cursor in iterator:
            if event is not None:  # None: a record the source skips; the cursor still moves
                event.source = self.source.name
                event = history.admit(event)
            if event is not None:  # None here too: history that is not imported
                group.append(event)
            group_cursor = new_cursor
            if len(group) >= POLL_GROUP:
                stored += await self._store(group, group_cursor)
                group = []
        if group or group_cursor != cursor:
            stored += await self._store(group, group_cursor)
        await self._release()
        return stored

    async def _lease(self) -> tuple[str | None, HistoryFilter] | bool:
        """Take the cursor row's lease; the cursor and how to treat the source's history, or
        False when another node holds it."""
        now = utcnow()
        async with self.sessionmaker() as session, session.begin():
            await session.execute(insert_ignoring_conflicts(
                session, SourceCursor.__table__, "source").values(
                source=self.source.name, cursor=None, updated_at=now, started_at=now))
            taken = await session.execute(
                update(SourceCursor).where(
                    SourceCursor.source == self.source.name,
                    or_(SourceCursor.lease_until.is_(None), SourceCursor.lease_until < now,
                        SourceCursor.lease_owner == self.owner))
                .values(lease_owner=self.owner,
                        lease_until=now + timedelta(seconds=max(60.0, self.interval * 4)))
                .execution_options(synchronize_session=False))
            if not taken.rowcount:
                return False
            cursor, started_at = (await session.execute(
                select(SourceCursor.cursor, SourceCursor.started_at).where(
                    SourceCursor.source == self.source.name))).one()
        # The first pass is the one whose lease created the row; a pass that found nothing
        # leaves the cursor empty, and later passes bring news.
        history = HistoryFilter(self.onboarding, started_at,
                                first_pass=cursor is None and started_at == now, now=now)
        return cursor, history

    async def _store(self, events: list, cursor: str | None) -> int:
        events = [event for event in events if self._storable(event)]
        new = sum(await self.inbox.submit(events, utcnow())) if events else 0
        async with self.sessionmaker() as session, session.begin():
            await session.execute(update(SourceCursor).where(
                SourceCursor.source == self.source.name, SourceCursor.lease_owner == self.owner)
                .values(cursor=cursor, updated_at=utcnow(), last_error=None)
                .execution_options(synchronize_session=False))
        return new

    def _storable(self, event: ReturnEvent) -> bool:
        """Whether the inbox can hold ``event``. A polled record it would refuse is skipped and
        named (its field), so that one bad record never holds the cursor and every later one."""
        try:
            check_storable(event)
        except RequestRejected as exc:
            log.warning("polled_event_skipped", source=self.source.name, field=exc.field,
                        reason=exc.message)
            return False
        return True

    async def _release(self) -> None:
        async with self.sessionmaker() as session, session.begin():
            await session.execute(update(SourceCursor).where(
                SourceCursor.source == self.source.name, SourceCursor.lease_owner == self.owner)
                .values(lease_owner=None, lease_until=None)
                .execution_options(synchronize_session=False))

    async def _record_error(self, error: str) -> None:
        with contextlib.suppress(Exception):
            async with self.sessionmaker() as session, session.begin():
                await session.execute(update(SourceCursor).where(
                    SourceCursor.source == self.source.name).values(
                    last_error=error, lease_owner=None, lease_until=None)
                    .execution_options(synchronize_session=False))
