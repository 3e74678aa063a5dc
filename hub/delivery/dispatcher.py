"""The dispatcher: claims due notifications, renders them, routes them, records the outcome.

What a claimed notification needs depends on how it was left:

- ``pending``: due (first try, a retry, or released after quiet hours / coalescing).
- ``unknown``: a send whose outcome was unknown and whose reconcile window passed without a
  receipt: ask the provider; an SMS is never sent twice, an email is sent again.
- ``sent`` with ``receipt_due_at`` passed: accepted but never confirmed: fail over.
- ``sending`` with an expired lease: its worker died. Without a send intent (see
  :mod:`hub.delivery.intent`) no provider call had started: it is simply pending. With one,
  idempotent sinks resend, SMS waits for a receipt like an unknown outcome, email is resent.

The last three are recovery work: up to ``worker.recovery_share`` of the send slots take it
ahead of the pending backlog (:mod:`hub.delivery.share`).

Claims are leases (see :mod:`hub.store.claims`). Notifications this process has just planned
come first, in memory, leased to it when they were written (:mod:`hub.store.handoff`); the
claim is for the rest. Sends run concurrently up to
``worker.concurrency``; outcomes are written back with group commit, and a notification that
failed for good plans its fallback channel in the same transaction.

The dispatcher only orchestrates: the outbox's reads and writes are :mod:`hub.store.outbox`,
rendering is the :class:`~hub.content.composer.Composer`'s, and what a send's result does to
its notification is decided by :func:`hub.domain.outcome.decide`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hub.campaigns.stopped import follow_campaigns
from hub.delivery.fallback import plan_fallback
from hub.delivery.intent import IntentRecorder
from hub.delivery.lease_keeper import LeaseKeeper
from hub.delivery.reconcile import Reconciler
from hub.delivery.router import RouteResult
from hub.delivery.share import CampaignShare, RecoveryShare
from hub.delivery.takeover import TakeoverGate
from hub.domain.outcome import DEFAULT_RECONCILE_SECONDS, Decision, RetryPolicy, Timing, decide
from hub.logs import get_logger
from hub.store.engine import utcnow
from hub.store.failures import may_pass, safe_error
from hub.store.group_commit import GroupCommitter
from hub.store.handoff import Handoff
from hub.store.outbox import Claimed, Outbox, Written, on_return, planned_snapshot
from hub.templates import TemplateRenderError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from hub.config import WorkerSettings
    from hub.content.composer import Composer
    from hub.delivery.promotional import PromotionalPolicy
    from hub.delivery.router import Router
    from hub.domain.planner import Planner

log = get_logger("hub.dispatcher")
#: How soon a failed outcome write is tried again, doubling up to the second constant.
_OUTCOME_RETRY_FIRST, _OUTCOME_RETRY_MAX = 0.1, 2.0
#: How long an outcome is tried again at most: longer than a managed database's failover, not
#: for good (an error that passes for an outage but is not one would hold the row and its send
#: slot forever).
_OUTCOME_RETRY_FOR = 900.0


@dataclass(slots=True)
class _Outcome:
    notification: Any
    result: RouteResult
    finished_at: datetime


class Dispatcher:
    """Delivers the outbox. :meth:`run` loops until cancelled; :meth:`drain` runs until idle."""

    def __init__(self, sessionmaker: async_sessionmaker, composer: Composer, router: Router,
                 planner: Planner, settings: WorkerSettings, owner: str,
                 campaign_share: float = 0.5) -> None:
        self.sessionmaker = sessionmaker
        self.composer = composer
        self.router = router
        self.planner = planner
        self.settings = settings
        self.owner = owner
        self.wake = asyncio.Event()
        self.share = CampaignShare(settings.concurrency, campaign_share)
        self.recovery = RecoveryShare(settings.concurrency, settings.recovery_share)
        self.outbox = Outbox(sessionmaker, owner, settings.lease_seconds)
        self.policy = RetryPolicy(max_attempts=settings.max_attempts,
                                  base_seconds=settings.retry_base_seconds,
                                  cap_seconds=settings.retry_max_seconds)
        #: Consent and quiet hours of promotional messages.
        self.promotional: PromotionalPolicy | None = None
        #: Picks up template changes before a message is rendered (the live library).
        self.before_render: Callable[[], Awaitable[None]] | None = None
        self._inflight: set[asyncio.Task] = set()
        self._results: GroupCommitter[_Outcome, None] = GroupCommitter(
            sessionmaker, self._write_outcomes, name="outcomes")
        #: Keeps the leases of the notifications being worked on (a slow call, a long
        #: reconcile, a wait for a provider's rate limit is not taken over).
        #: No started send of another worker is taken over just after an outage.
        self.takeovers = TakeoverGate(settings.lease_seconds)
        self.keeper = LeaseKeeper(self.outbox, settings.lease_seconds,
                                  on_failure=self.takeovers.database_failed)
        self.intents = IntentRecorder(sessionmaker, owner, settings.lease_seconds)
        self.reconciler = Reconciler(router, settings)
        #: Notifications planned in this process, leased to it when written.
        self.handoff: Handoff[Claimed] = Handoff(
            owner, settings.lease_seconds, capacity=4 * settings.concurrency,
            claim_interval=settings.idle_poll_seconds)
        #: Notifications this dispatcher took through claims (the rest came handed off).
        self.claimed = 0
        self._stopping = False

    async def start(self) -> None:
        """Start the outcome and send-intent writers and the lease keeper."""
        await self._results.start()
        await self.intents.start()
        self.keeper.start()

    async def stop(self) -> None:
        """Wait for sends in flight, write their outcomes, give back the hand-offs not
        started, stop."""
        self._stopping = True  # an outcome the database refuses now is left to its lease
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)
        await self.keeper.stop()
        await self.intents.stop()
        await self._results.stop()
        queued = self.handoff.take_all()
        try:
            await self._give_back(queued)
        except Exception as exc:  # their leases run out instead
            log.warning("handoff_release_failed", rows=len(queued), error=safe_error(exc))

    async def _give_back(self, leases: list[tuple[datetime, Claimed]]) -> None:
        """Give back the leases of handed notifications this dispatcher will not send."""
        await self.outbox.release([(lease, item.notification.id) for lease, item in leases])

    def request_stop(self) -> None:
        """Finish the current pass, then leave :meth:`run` (a cancelled pass could lose the
        rows a claim had just leased: they waited out their lease after a restart)."""
        self._stopping = True
        self.wake.set()

    async def run(self) -> None:
        """Claim and deliver until cancelled or :meth:`request_stop`."""
        self.handoff.worker_started()
        try:
            while not self._stopping:
                # Cleared before the claim: a wake-up that comes during it is not lost.
                self.wake.clear()
                claimed = await self.claim_and_start()
                if not claimed:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.settings.idle_poll_seconds):
                            await self.wake.wait()
        finally:
            self.handoff.worker_stopped()

    async def claim_and_start(self) -> int:
        """Claim as many notifications as there are free send slots and start sending them."""
        free = self.settings.concurrency - len(self._inflight)
        if free <= 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.idle_poll_seconds):
                    await asyncio.wait(self._inflight, return_when=asyncio.FIRST_COMPLETED)
            return 1
        try:
            # The queue's rows first (at least half the free slots), then a claim when one is
            # due: a steady backlog of claims must not leave queued rows to go stale.
            now, limit = utcnow(), min(free, self.settings.batch_size)
            batch = self.handoff.take(max(1, free // 2), now)
            claimed = self.handoff.claim_is_due()
            if claimed and len(batch) < free:
                batch += await self.claim(min(free - len(batch), limit))
            batch += self.handoff.take(free - len(batch), now)
            stale = self.handoff.take_stale()
            if stale:  # waited half their lease in the queue: back to the claims, at once
                await self._give_back(stale)
            if not batch and (stale or not claimed):  # "nothing" must mean a claim found none
                batch = await self.claim(limit)
        except Exception as exc:  # database outage: keep the loop alive, try again soon
            log.error("notification_claim_failed", error=safe_error(exc)[:300])
            self.takeovers.database_failed()
            await asyncio.sleep(self.settings.idle_poll_seconds)
            return 0
        for item in batch:
            if item.notification.id in self.keeper.open:
                # Its lease ran out while this worker was on it (a renewal came late), and this
                # worker's own claim took the row back: it is being delivered already, and
                # its lease is renewed again. A second delivery would pass the send intent's
                # owner check too (found in the chaos run: an email sent twice by one worker).
                continue
            self.keeper.opened(item.notification.id)  # its lease is kept until the outcome
            task = asyncio.create_task(self._deliver(item))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
            if item.notification.priority:
                self.share.take()
                task.add_done_callback(self._campaign_slot_freed)
            if item.prior_status != "pending":
                self.recovery.take()
                task.add_done_callback(self.recovery.release)
        return len(batch)

    def _campaign_slot_freed(self, _task: asyncio.Task) -> None:
        """A campaign send finished: its slot may take the next due campaign message now,
        rather than at the next idle poll (which capped a campaign at share / poll interval)."""
        self.share.release()
        self.wake.set()

    async def drain(self) -> None:
        """Deliver until nothing is due and nothing is in flight (tests, ``simulate``)."""
        while True:
            # A send that finishes while a claim runs can free the next stage of its return
            # (stages go out in order) after the claim looked: only a claim that started with
            # nothing in flight and found nothing means the outbox is drained.
            busy = bool(self._inflight)
            started = await self.claim_and_start()
            if started:
                continue
            if self._inflight:
                await asyncio.wait(self._inflight)
            elif not busy:
                return

    async def claim(self, limit: int) -> list[Claimed]:
        """Lease up to ``limit`` notifications that need work now (see the module docstring):
        transactional first, campaign rows only in the slots left; in each, recovery work
        within its share ahead of pending rows (hub.delivery.share)."""
        coalescing = self._coalescible if self.planner.settings.coalesce_seconds else None
        claimed = await self.outbox.claim(limit, spare=self._spare,
                                          ahead=self.recovery.ahead(limit),
                                          coalescible=coalescing,
                                          take_over_sends=self.takeovers.open)
        self.claimed += len(claimed)
        return claimed

    def _spare(self, free: int, transactional_busy: int) -> int:
        return self.share.spare(free, transactional_busy=transactional_busy)

    def takes_planned(self, row: dict[str, Any]) -> bool:
        """Whether a notification planned in this process may come to it in memory: not one
        that coalescing may supersede (only a claim looks for the later stage that does)."""
        return (not self.planner.settings.coalesce_seconds
                or not self._coalescible(planned_snapshot(row)))

    def _coalescible(self, notification: Any) -> bool:
        """Whether a later stage may supersede this pending notification (not a fallback, not
        a campaign message, not an urgent stage)."""
        if notification.fallback_of or notification.campaign_id:
            return False
        stage_settings = self.planner.settings.stages.get(notification.stage)
        return not (stage_settings and stage_settings.urgent)

    async def _deliver(self, item: Claimed) -> None:
        try:
            await self._deliver_kept(item)
        finally:
            self.keeper.closed(item.notification.id)

    async def _deliver_kept(self, item: Claimed) -> None:
        try:
            result = await self._work(item)
        except Exception as exc:  # never lose the row: retried with backoff, and counted, so
            # that a bug that fails every time (a plugin's hook) ends as a dead letter rather
            # than a retry every second for good.
            log.exception("delivery_crashed", notification_id=item.notification.id)
            result = RouteResult(status="retry", error=f"{type(exc).__name__} in dispatcher",
                                 counts_as_attempt=True)
        if result.lease_lost:  # the row is another delivery's now: its outcome is that one's
            log.info("delivery_lease_lost", notification_id=item.notification.id)
            if not result.attempts:  # else the calls made before are logged (_write_outcomes)
                return
        await self._write_outcome(_Outcome(item.notification, result, utcnow()))

    async def _write_outcome(self, outcome: _Outcome) -> None:
        """Write ``outcome``, trying again for as long as the database is away (the keeper
        holds the lease meanwhile, and no worker takes a started send over until the database
        has answered it for a lease after its last failure: :mod:`hub.delivery.takeover`),
        up to ``_OUTCOME_RETRY_FOR``. Given up after a lease, an accepted send was made again
        once the database was back (found in the chaos run, with PostgreSQL down for two
        leases: every email in flight went twice). An error that is not the database being
        away, stopping, or that much time leaves it to the lease: another worker then takes the
        row over as a send that may have happened."""
        notification_id = outcome.notification.id
        delay, give_up = _OUTCOME_RETRY_FIRST, time.monotonic() + _OUTCOME_RETRY_FOR
        while True:
            try:
                await self._results.submit(outcome)
                return
            except Exception as exc:
                if self._stopping or not may_pass(exc) or time.monotonic() > give_up:
                    log.error("outcome_write_failed", notification_id=notification_id,
                              error=safe_error(exc)[:300])
                    return
                self.takeovers.database_failed()
                log.warning("outcome_write_retrying", notification_id=notification_id,
                            error=safe_error(exc)[:300], retry_in=delay)
            await asyncio.sleep(delay)
            delay = min(2 * delay, _OUTCOME_RETRY_MAX)

    async def _work(self, item: Claimed) -> RouteResult:
        notification, now = item.notification, utcnow()
        if notification.expires_at is not None and now > notification.expires_at:
            return RouteResult(status="expired", error="expired before it could be sent")
        if item.superseded_by is not None:
            return RouteResult(status="superseded",
                               error=f"a later stage ({item.superseded_by}) replaces it")
        if not notification.recipient_enc:
            return RouteResult(status="skipped", error="the recipient was erased")
        if self.promotional and self.promotional.applies(notification):
            held = await self.promotional.hold(notification, item.customer, now)
            if held is not None:
                return held
        if self.before_render is not None:
            await self.before_render()
        try:
            message = self.composer.compose(item)
        except TemplateRenderError as exc:
            if exc.error == "RenderTimeout":
                # Over the time limit: a template too slow for it, or a worker too starved to
                # render in time. Retried, and counted, so only the first ends as a dead letter.
                return RouteResult(status="retry", error=f"cannot render: {exc}"[:500],
                                   counts_as_attempt=True)
            return RouteResult(status="dead", error=f"cannot render: {exc}"[:500])
        except ValueError as exc:
            return RouteResult(status="dead", error=f"cannot render: {exc}"[:500])
        announce = self.intents.announcer(seen=notification.send_started_at)
        if item.prior_status == "unknown":
            return await self.reconciler.reconcile(notification, message, announce)
        if item.prior_status == "sending" and not self.reconciler.safe_to_resend(
                notification.channel, promotional=bool(notification.campaign_id)):
            return RouteResult(status="unknown", provider=notification.send_provider,
                               error="a worker stopped mid-send; waiting for the receipt")
        if item.prior_status == "sent":  # accepted, but no receipt by the deadline
            result = await self.router.deliver(
                message, exclude=frozenset(notification.tried_providers or ()),
                announce=announce)
            if result.status == "failed" and not result.attempts:
                result.error = "no delivery receipt from any provider"
            return result
        return await self.router.deliver(message, announce=announce)

    def _decide(self, outcome: _Outcome, current: str) -> Decision:
        """What the outcome does to its notification, whose row now has status ``current``."""
        notification, result = outcome.notification, outcome.result
        route = self.router.channels.get(notification.channel)
        sink = self.router.sink_named(result.provider or "")
        deadline = (route.receipt_deadline_seconds
                    if route and sink and sink.accepts_webhooks else None)
        timing = Timing(receipt_deadline_seconds=deadline, reconcile_seconds=(
            route.reconcile_seconds if route else DEFAULT_RECONCILE_SECONDS))
        return decide(notification, result, outcome.finished_at, current=current,
                      policy=self.policy, timing=timing)

    async def _write_outcomes(self, session: AsyncSession, outcomes: list[_Outcome]) -> list[None]:
        """Write a group of outcomes: the notifications this worker still leases get their next
        state, an attempt log and a timeline entry each; those that failed for good plan their
        fallback channel."""
        owned = await self.outbox.still_leased(session, [o.notification.id for o in outcomes])
        written, lost = [], []
        for outcome in outcomes:
            # Writing releases the lease: a second outcome for the same lease finds it gone.
            held = owned.pop(outcome.notification.id, None)
            if held is None or outcome.result.lease_lost:  # another's: only its calls logged
                lost.append((outcome.notification, outcome.result.attempts))
                if outcome.result.attempts and not outcome.result.lease_lost:
                    # Another worker took the row over while this one's calls were made (its
                    # lease ran out first): what this one sent, that one may send again.
                    log.error("outcome_after_lease_lost",
                              notification_id=outcome.notification.id,
                              status=outcome.result.status, provider=outcome.result.provider)
            else:
                current, return_id = held
                outcome.notification = on_return(outcome.notification, return_id)
                written.append((outcome, self._decide(outcome, current)))
        decisions = await follow_campaigns(  # a retry of a paused campaign's message waits
            session, [(o.notification, d) for o, d in written])
        written = [(o, d) for (o, _), d in zip(written, decisions, strict=True)]
        await self.outbox.log_attempts(session, lost)
        await self.outbox.write(session, [
            Written(o.notification, d.values, d.reported, o.result.attempts, o.finished_at)
            for o, d in written])
        for outcome, decision in written:
            if decision.plan_fallback:
                await plan_fallback(session, self.planner, outcome.notification,
                                    decision.values["last_error"] or decision.values["status"],
                                    outcome.finished_at)
        return [None] * len(outcomes)
