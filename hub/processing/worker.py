"""The inbox processor: claims received events, enriches them, applies them in batches."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, or_

from hub.connectors import Source
from hub.domain.retry import backoff_delay
from hub.events import PRIVACY_EVENTS
from hub.logs import get_logger
from hub.store.claims import ReadyProbe, claim, lease_end
from hub.store.engine import utcnow
from hub.store.failures import safe_error
from hub.store.inbox import ClaimedEvent, record_failure, release, still_leased
from hub.store.models import InboxEvent

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy import ColumnElement
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from hub.config import WorkerSettings
    from hub.processing.applier import BatchApplier
    from hub.processing.privacy import PrivacyHandler
    from hub.store.codec import EventCodec
    from hub.store.handoff import Handoff

log = get_logger("hub.inbox_processor")

_INBOX = InboxEvent.__table__
#: What the processor needs of each claimed row, read by the claim itself.
_CLAIMED_COLUMNS = (_INBOX.c.id, _INBOX.c.payload_enc, _INBOX.c.received_at, _INBOX.c.attempts)


def _ready(now: Any) -> ColumnElement[bool]:
    """The inbox rows a claim at ``now`` may take (a datetime, or the probe's parameter).
    Table columns, not mapped attributes: the claim's statements stay Core ones."""
    return and_(_INBOX.c.status == "pending", _INBOX.c.available_at <= now,
                or_(_INBOX.c.lease_until.is_(None), _INBOX.c.lease_until < now))


class InboxProcessor:
    """Moves inbox events to ``done`` (applied), ``parked`` (waiting for their return) or, after
    ``worker.event_max_attempts`` failures, ``failed`` (a dead letter, replayable)."""

    def __init__(self, sessionmaker: async_sessionmaker, codec: EventCodec,
                 applier: BatchApplier, privacy: PrivacyHandler, sources: dict[str, Source],
                 settings: WorkerSettings, owner: str,
                 on_planned: Callable[[], None] | None = None) -> None:
        self.sessionmaker = sessionmaker
        self._probe = ReadyProbe(sessionmaker, _INBOX, _ready)
        self.codec = codec
        self.applier = applier
        self.privacy = privacy
        self.sources = sources
        self.settings = settings
        self.owner = owner
        self.on_planned = on_planned
        self.wake = asyncio.Event()
        #: Events this process just stored, leased to it at insert (see hub.store.handoff).
        self.handoff: Handoff[ClaimedEvent] | None = None
        #: Events this processor took through claims (the rest came handed off).
        self.claimed = 0
        self._stopping = False

    def request_stop(self) -> None:
        """Finish the current batch, then leave :meth:`run` (a cancelled batch could lose
        the events it had claimed: they waited out their lease after a restart)."""
        self._stopping = True
        self.wake.set()

    async def run(self) -> None:
        """Process until cancelled or :meth:`request_stop`; sleeps until woken or
        ``idle_poll_seconds`` pass."""
        while not self._stopping:
            try:
                processed = await self.run_once()
            except Exception as exc:  # database outage: keep the loop alive
                log.error("inbox_batch_failed", error=safe_error(exc))
                processed = 0
                await asyncio.sleep(self.settings.idle_poll_seconds)
            if not processed:
                self.wake.clear()
                if self._stopping:  # asked during the batch: the clear must not lose it
                    break
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.settings.idle_poll_seconds):
                        await self.wake.wait()

    async def release_handed(self) -> None:
        """Give back the leases of the events handed off but not processed (on stop)."""
        if self.handoff is None:
            return
        queued = self.handoff.take_all()
        try:
            await self._give_back(queued)
        except Exception as exc:  # their leases run out instead
            log.warning("handoff_release_failed", rows=len(queued), error=safe_error(exc))

    async def _give_back(self, leases: list[tuple[datetime, ClaimedEvent]]) -> None:
        """Give back the leases of handed events this processor will not apply."""
        async with self.sessionmaker() as session, session.begin():
            await release(session, [(lease, item.inbox_id) for lease, item in leases])

    async def drain(self) -> None:
        """Process until nothing is ready (tests, ``simulate``)."""
        while await self.run_once():
            pass

    async def run_once(self) -> int:
        """Take one batch (handed off in memory, else claimed) and process it; returns how
        many events it had."""
        handoff, items, broken, stale = self.handoff, [], [], []
        claimed = handoff is None or handoff.claim_is_due()
        if claimed:
            items, broken = await self._claim()
        if handoff is not None:
            items += handoff.take(await self._batch_room(len(items)) - len(items), utcnow())
            stale = handoff.take_stale()
        if stale:  # waited half their lease in the queue: back to the claims, at once
            await self._give_back(stale)
        if not items and not broken and (stale or not claimed):  # "nothing": a claim found none
            items, broken = await self._claim()
        # In id order, claimed and handed alike: a return's events are applied, and their
        # stages planned, in the order they were stored.
        items.sort(key=lambda item: item.inbox_id)
        for inbox_id, lease_until, error in broken:
            await self._fail(inbox_id, lease_until, error,
                             attempts=self.settings.event_max_attempts)
        ready = [item for item in await self._enrich_all(items) if item is not None]
        privacy = [i for i in ready if i.event.type in PRIVACY_EVENTS]
        lifecycle = [i for i in ready if i.event.type not in PRIVACY_EVENTS]
        for item in privacy:
            await self._apply_privacy(item)
        if lifecycle:
            await self._apply(lifecycle)
        return len(items) + len(broken)

    async def _batch_room(self, claimed: int) -> int:
        """How many events the batch may hold (``claimed`` of them claimed already): a
        batch, or fewer when the local dispatcher's queue is nearly full (waiting a little
        for it first, when there are handed-off events to take), so that the notifications
        they plan are handed to it in memory rather than written for its claims."""
        dispatch, batch = self.applier.dispatch, self.settings.batch_size
        if dispatch is None or claimed >= batch or self.handoff is None \
                or not self.handoff.queued:
            return batch
        room = await dispatch.room(patience=self.settings.idle_poll_seconds)
        return batch if room is None else min(batch, room)

    async def _claim(self) -> tuple[list[ClaimedEvent], list[tuple[int, datetime, str]]]:
        """Claim a batch: the events decoded, and the rows that cannot be (id, lease end,
        error)."""
        now = utcnow()
        ready = _ready(now)
        if not await self._probe(now):
            return [], []
        async with self.sessionmaker() as session, session.begin():
            rows = await claim(session, InboxEvent, ready=ready, order_by=_INBOX.c.id,
                               limit=self.settings.batch_size, owner=self.owner,
                               lease_seconds=self.settings.lease_seconds, now=now,
                               columns=_CLAIMED_COLUMNS)
        self.claimed += len(rows)
        lease_until = lease_end(now, self.settings.lease_seconds)
        items, broken = [], []
        for inbox_id, payload_enc, received_at, attempts in rows:
            try:
                event = self.codec.decode(payload_enc)
            except ValueError as exc:  # a key was removed from config, or corrupt data
                broken.append((inbox_id, lease_until, str(exc)))
                continue
            items.append(ClaimedEvent(inbox_id, event, received_at, attempts, lease_until))
        return items, broken

    async def _enrich_all(self, items: list[ClaimedEvent]) -> list[ClaimedEvent | None]:
        return await asyncio.gather(*(self._enrich(item) for item in items))

    async def _enrich(self, item: ClaimedEvent) -> ClaimedEvent | None:
        source = self.sources.get(item.event.source)
        if source is None or type(source).enrich is Source.enrich:
            return item
        try:
            item.event = await source.enrich(item.event)
        except Exception as exc:
            await self._fail(item.inbox_id, item.lease_until,
                             f"enrich failed: {safe_error(exc)}", attempts=item.attempts + 1)
            return None
        return item

    async def _apply(self, items: list[ClaimedEvent]) -> bool:
        """Apply ``items`` (in inbox id order) in one transaction, those still leased up to the
        first that is not; returns False if one had lost its lease (the rest was given back)."""
        try:
            async with self.sessionmaker() as session, session.begin():
                held, whole = await self._held_in_order(session, items)
                if not held:
                    return whole
                report = await self.applier.apply(session, held, utcnow())
        except Exception as exc:
            if len(items) == 1:
                return await self._fail(items[0].inbox_id, items[0].lease_until,
                                        safe_error(exc), attempts=items[0].attempts + 1)
            log.warning("inbox_batch_retried_singly", size=len(items), error=type(exc).__name__)
            for n, item in enumerate(items):  # isolate the event that breaks the batch
                if not await self._apply([item]):
                    # Its row is claimed again later: nothing after it may go first.
                    await self._give_back([(i.lease_until, i) for i in items[n + 1:]])
                    break
            return True
        self.applier.hand_off(report)
        if report.notifications and self.on_planned is not None:
            self.on_planned()
        return whole

    async def _held_in_order(self, session: AsyncSession, items: list[ClaimedEvent]
                             ) -> tuple[list[ClaimedEvent], bool]:
        """The items this processor may apply in ``session``'s transaction, and whether that
        is all of them. When some lost their lease, only those held with a lower inbox id than
        the first lost one: a lost row is claimed again later, and a later event of its return
        must not be applied before it. The leases of the other held items are given back in
        the same transaction, so the next claim takes them in id order, after it."""
        held = await self._still_leased(session, items)
        # A row's copy handed off before a claim took it over comes with the claimed copy:
        # the row is held.
        held_ids = {item.inbox_id for item in held}
        lost = [item.inbox_id for item in items if item.inbox_id not in held_ids]
        if not lost:
            return held, True
        first_lost = min(lost)
        later = [item for item in held if item.inbox_id > first_lost]
        if later:
            await release(session, [(item.lease_until, item.inbox_id) for item in later])
            log.info("inbox_batch_cut_at_lost_lease", first_lost=first_lost,
                     given_back=[item.inbox_id for item in later])
        return [item for item in held if item.inbox_id < first_lost], False

    async def _apply_privacy(self, item: ClaimedEvent) -> None:
        try:
            async with self.sessionmaker() as session, session.begin():
                if await self._still_leased(session, [item]):
                    await self.privacy.handle(session, item, utcnow())
        except Exception as exc:
            await self._fail(item.inbox_id, item.lease_until, safe_error(exc),
                             attempts=item.attempts + 1)

    async def _still_leased(self, session: AsyncSession, items: list[ClaimedEvent]
                            ) -> list[ClaimedEvent]:
        """The items this processor may apply in ``session``'s transaction: those whose row
        it still leases as when it read them (see :func:`hub.store.inbox.still_leased`)."""
        held = await still_leased(session, self.owner, items)
        if len(held) < len(items):
            kept = {id(item) for item in held}
            log.info("inbox_lease_lost", inbox_ids=[
                item.inbox_id for item in items if id(item) not in kept])
        return held

    async def _fail(self, inbox_id: int, lease_until: datetime, error: str, *,
                    attempts: int) -> bool:
        """Count a failed try: retry later with backoff, or park as failed (a dead letter).
        Only while the row is still leased as it was read (``lease_until``): one another
        worker took over, and perhaps applied, is not brought back. Returns whether it
        was counted (False: the lease was lost)."""
        now = utcnow()
        dead = attempts >= self.settings.event_max_attempts
        delay = backoff_delay(attempts, base=self.settings.retry_base_seconds,
                              cap=self.settings.retry_max_seconds)
        async with self.sessionmaker() as session, session.begin():
            counted = await record_failure(
                session, self.owner, inbox_id, lease_until,
                status="failed" if dead else "pending", attempts=attempts, last_error=error,
                available_at=now + timedelta(seconds=delay))
        if counted:
            log.warning("inbox_event_failed", inbox_id=inbox_id, attempts=attempts, dead=dead,
                        error=error[:200])
        else:
            log.info("inbox_lease_lost", inbox_ids=[inbox_id], error=error[:200])
        return counted
