"""The dispatcher: claims due notifications, renders them, routes them, records the outcome.

What a claimed notification needs depends on how it was left:

- ``pending``: due (first try, a retry, or released after quiet hours / coalescing).
- ``unknown``: a send whose outcome was unknown and whose reconcile window passed without a
  receipt: ask the provider; an SMS is never sent twice, an email is sent again.
- ``sent`` with ``receipt_due_at`` passed: accepted but never confirmed: fail over.
- ``sending`` with an expired lease: its worker died. Without a send intent (see
  :mod:`hub.delivery.intent`) no provider call had started: it is simply pending. With one,
  idempotent sinks resend, SMS waits for a receipt like an unknown outcome, email is resent.

Claims are leases (see :mod:`hub.store.claims`). Sends run concurrently up to
``worker.concurrency``; outcomes are written back with group commit, and a notification that
failed for good plans its fallback channel in the same transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import TYPE_CHECKING

from sqlalchemy import and_, bindparam, exists, inspect, or_, select, update

from hub.delivery.context import build_context
from hub.delivery.fallback import FAILED_FOR_GOOD, plan_fallback
from hub.delivery.intent import IntentRecorder
from hub.delivery.receipts import STATUS_RANK
from hub.delivery.reconcile import Reconciler
from hub.delivery.retry import backoff_delay
from hub.delivery.router import AttemptRecord, RouteResult
from hub.delivery.share import CampaignShare
from hub.logs import get_logger
from hub.messages import OutboundMessage
from hub.store.claims import claim
from hub.store.dialect import lock_for_update
from hub.store.engine import utcnow
from hub.store.failures import safe_error
from hub.store.group_commit import GroupCommitter
from hub.store.models import Customer, DeliveryAttempt, Notification, Return, TimelineEntry
from hub.templates import TemplateRenderError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from sqlalchemy import Update
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from hub.config import BrandSettings, WorkerSettings
    from hub.domain.planner import Planner
    from hub.delivery.promotional import PromotionalPolicy
    from hub.delivery.router import Router
    from hub.store.codec import EventCodec
    from hub.templates import TemplateRenderer

log = get_logger("hub.dispatcher")


@dataclass(slots=True)
class Claimed:
    """A claimed notification with what rendering needs, and the status it was claimed from.

    The dispatcher fills ``notification``, ``ret`` and ``customer`` with read-only snapshots
    of the rows (every column as an attribute, see :class:`_Snapshot`) rather than ORM
    entities; anything that only reads their columns takes either."""

    notification: Notification
    ret: Return
    customer: Customer | None
    prior_status: str
    superseded_by: str | None = None


@dataclass(slots=True)
class _Outcome:
    notification: Notification
    result: RouteResult
    finished_at: datetime


class _Snapshot:
    """Reads one model's columns out of a Core row as attributes named like the model's."""

    def __init__(self, model: type) -> None:
        attributes = inspect(model).column_attrs
        self.keys = tuple(attribute.key for attribute in attributes)
        self.columns = tuple(attribute.columns[0] for attribute in attributes)
        self.id_at = self.keys.index("id")

    def read(self, values: tuple) -> SimpleNamespace:
        """The snapshot of one row's values, in :attr:`columns` order."""
        return SimpleNamespace(**dict(zip(self.keys, values, strict=True)))


_NOTIFICATION = _Snapshot(Notification)
_RETURN = _Snapshot(Return)
_CUSTOMER = _Snapshot(Customer)


class Dispatcher:
    """Delivers the outbox. :meth:`run` loops until cancelled; :meth:`drain` runs until idle."""

    def __init__(self, sessionmaker: async_sessionmaker, codec: EventCodec,
                 renderer: TemplateRenderer, router: Router, planner: Planner,
                 brand: BrandSettings, settings: WorkerSettings, owner: str,
                 campaign_share: float = 0.5) -> None:
        self.sessionmaker = sessionmaker
        self.codec = codec
        self.renderer = renderer
        self.router = router
        self.planner = planner
        self.brand = brand
        self.settings = settings
        self.owner = owner
        self.wake = asyncio.Event()
        self.share = CampaignShare(settings.concurrency, campaign_share)
        #: Builds the customer's signed portal link for (source, return reference, issued at).
        self.portal_link: Callable[[str, str, datetime], str] | None = None
        #: Consent, quiet hours and unsubscribe headers of promotional messages.
        self.promotional: PromotionalPolicy | None = None
        #: Picks up template changes before a message is rendered (the live library).
        self.before_render: Callable[[], Awaitable[None]] | None = None
        self._inflight: set[asyncio.Task] = set()
        self._results: GroupCommitter[_Outcome, None] = GroupCommitter(
            sessionmaker, self._write_outcomes, name="outcomes")
        self.intents = IntentRecorder(sessionmaker, owner)
        self.reconciler = Reconciler(router, settings)
        #: Outcome UPDATE statements by the columns they set (built once, reused).
        self._updates: dict[tuple[str, ...], Update] = {}
        #: Merged brands by source: brands are configuration, fixed for the process's life.
        self._brands: dict[str | None, BrandSettings] = {}

    async def start(self) -> None:
        """Start the outcome and send-intent writers."""
        await self._results.start()
        await self.intents.start()

    async def stop(self) -> None:
        """Wait for sends in flight, write their outcomes, stop."""
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)
        await self.intents.stop()
        await self._results.stop()

    async def run(self) -> None:
        """Claim and deliver until cancelled."""
        while True:
            claimed = await self.claim_and_start()
            if not claimed:
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.settings.idle_poll_seconds):
                        await self.wake.wait()

    async def claim_and_start(self) -> int:
        """Claim as many notifications as there are free send slots and start sending them."""
        free = self.settings.concurrency - len(self._inflight)
        if free <= 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.idle_poll_seconds):
                    await asyncio.wait(self._inflight, return_when=asyncio.FIRST_COMPLETED)
            return 1
        try:
            batch = await self.claim(min(free, self.settings.batch_size))
        except Exception as exc:  # database outage: keep the loop alive, try again soon
            log.error("notification_claim_failed", error=safe_error(exc)[:300])
            await asyncio.sleep(self.settings.idle_poll_seconds)
            return 0
        for item in batch:
            task = asyncio.create_task(self._deliver(item))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
            if item.notification.priority:
                self.share.take()
                task.add_done_callback(self.share.release)
        return len(batch)

    async def drain(self) -> None:
        """Deliver until nothing is due and nothing is in flight (tests, ``simulate``)."""
        while True:
            started = await self.claim_and_start()
            if not started and not self._inflight:
                return
            if not started:
                await asyncio.wait(self._inflight)

    async def claim(self, limit: int) -> list[Claimed]:
        """Lease up to ``limit`` notifications that need work now (see the module docstring)."""
        now = utcnow()
        n = Notification.__table__.c  # Core columns: no ORM statement layer on this hot path
        lease_free = or_(n.lease_until.is_(None), n.lease_until < now)
        ready = and_(or_(
            and_(n.status.in_(("pending", "unknown")), n.next_attempt_at <= now, lease_free),
            and_(n.status == "sent", n.receipt_due_at <= now, lease_free),
            and_(n.status == "sending", n.lease_until < now),
        ), ~_EARLIER_UNFINISHED)
        options = {"order_by": n.next_attempt_at, "owner": self.owner, "now": now,
                   "lease_seconds": self.settings.lease_seconds, "values": {"status": "sending"},
                   "columns": (n.id, n.status, n.send_started_at)}
        async with self.sessionmaker() as session, session.begin():
            # Transactional first; campaign rows only in the slots left (hub.delivery.share).
            rows = await claim(session, Notification, ready=and_(ready, n.priority == 0),
                               limit=limit, **options)
            spare = self.share.spare(limit - len(rows), transactional_busy=len(rows))
            if spare:
                rows += await claim(session, Notification, ready=and_(ready, n.priority > 0),
                                    limit=spare, **options)
            if not rows:
                return []
            # A crashed worker's row without a send intent never reached a provider.
            prior = {id_: "pending" if status == "sending" and started is None else status
                     for id_, status, started in rows}
            loaded = await _load_claimed(session, list(prior))
            newer = await self._newer_notifications(
                session, [n for n, _, _ in loaded if prior[n.id] == "pending"])
        return [Claimed(notification, ret, customer, prior[notification.id],
                        newer.get(notification.id))
                for notification, ret, customer in loaded]

    async def _newer_notifications(self, session: AsyncSession,
                                   notifications: list[Notification]) -> dict[str, str]:
        """Coalescing: pending notifications that a later stage of the same return, channel and
        recipient supersedes (only with ``notifications.coalesce_seconds`` set)."""
        if not self.planner.settings.coalesce_seconds:
            return {}
        candidates = [n for n in notifications if not n.fallback_of and not n.campaign_id
                      and not self._urgent(n.stage)]
        if not candidates:
            return {}
        table = Notification.__table__
        others = (await session.execute(select(
            table.c.id, table.c.return_id, table.c.channel, table.c.recipient_hash,
            table.c.created_at).where(
            table.c.return_id.in_({n.return_id for n in candidates}),
            table.c.status.notin_(("superseded", "skipped")),
            table.c.campaign_id.is_(None)))).all()
        superseded = {}
        for notification in candidates:
            for other in others:
                if (other.id != notification.id and other.return_id == notification.return_id
                        and other.channel == notification.channel
                        and other.recipient_hash == notification.recipient_hash
                        and other.created_at > notification.created_at):
                    superseded[notification.id] = other.id
                    break
        return superseded

    def _urgent(self, stage: str) -> bool:
        stage_settings = self.planner.settings.stages.get(stage)
        return bool(stage_settings and stage_settings.urgent)

    def compose(self, item: Claimed) -> OutboundMessage:
        """Render a claimed notification into the message a sink sends, in the brand of the
        return's store (the default brand merged with ``notifications.brands[<source>]``)."""
        # Imported here: this method is the content layer's only entry into the dispatcher.
        from hub.content.brand import brand_for
        from hub.content.sms import count_segments
        from hub.content.text import one_line

        notification = item.notification
        settings = self.planner.settings
        source = item.ret.source
        brand = self._brands.get(source)
        if brand is None:
            brand = self._brands[source] = brand_for(self.brand, settings.brands, source)
        link = (self.portal_link(item.ret.source, item.ret.external_id, notification.created_at)
                if self.portal_link else None)
        unsubscribe = (self.promotional.unsubscribe_url(notification, item.customer)
                       if self.promotional else None)
        context = build_context(notification=notification, ret=item.ret, customer=item.customer,
                                brand=brand, codec=self.codec, portal_url=link,
                                unsubscribe_url=unsubscribe)
        rendered = self.renderer.render(notification.template, notification.channel, context)
        if notification.channel == "sms":
            cost = count_segments(rendered.text)
            if cost.segments > settings.sms_max_segments:
                # Sent anyway (a long text beats none); `returnhub check` catches templates.
                log.warning("sms_over_segment_limit", notification_id=notification.id,
                            stage=notification.stage, segments=cost.segments,
                            encoding=cost.encoding, limit=settings.sms_max_segments)
        message = OutboundMessage(
            message_id=notification.id, channel=notification.channel,
            to=self.codec.cipher.decrypt(notification.recipient_enc) or "",
            subject=rendered.subject, text=rendered.text, html=rendered.html,
            from_address=brand.from_email,
            from_name=one_line(brand.from_name or brand.store_name) or None,
            reply_to=brand.support_email,
            metadata={"return": item.ret.external_id, "stage": notification.stage},
            template=notification.template, category=notification.category)
        if self.promotional:
            self.promotional.decorate(message, unsubscribe)
        return message

    async def _deliver(self, item: Claimed) -> None:
        try:
            result = await self._work(item)
        except Exception as exc:  # never lose the row: the lease runs out and it is retried
            log.exception("delivery_crashed", notification_id=item.notification.id)
            result = RouteResult(status="retry", error=f"{type(exc).__name__} in dispatcher")
        try:
            await self._results.submit(_Outcome(item.notification, result, utcnow()))
        except Exception as exc:  # the lease runs out and another worker retries the row
            log.error("outcome_write_failed", notification_id=item.notification.id,
                      error=safe_error(exc)[:300])

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
            message = self.compose(item)
        except TemplateRenderError as exc:
            if exc.error == "RenderTimeout":
                # Over the time limit: a template too slow for it, or a worker too starved to
                # render in time. Retried, and counted, so only the first ends as a dead letter.
                return RouteResult(status="retry", error=f"cannot render: {exc}"[:500],
                                   counts_as_attempt=True)
            return RouteResult(status="dead", error=f"cannot render: {exc}"[:500])
        except ValueError as exc:
            return RouteResult(status="dead", error=f"cannot render: {exc}"[:500])
        announce = self.intents.record
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

    def _next_state(self, outcome: _Outcome) -> dict:
        notification, result, now = outcome.notification, outcome.result, outcome.finished_at
        attempts = notification.attempts + (
            1 if result.attempts or result.counts_as_attempt else 0)
        values = {"attempts": attempts, "lease_owner": None, "lease_until": None,
                  "last_error": result.error, "provider": result.provider or notification.provider,
                  "tried_providers": [*(notification.tried_providers or []), *result.tried]}
        route = self.router.channels.get(notification.channel)
        if result.status == "sent":
            values.update(status="sent", sent_at=now, receipt_due_at=None,
                          provider_message_id=result.provider_message_id
                          or notification.provider_message_id)
            sink = self.router.sinks.get(result.provider or "")
            if route and route.receipt_deadline_seconds and sink and sink.accepts_webhooks:
                values["receipt_due_at"] = now + timedelta(seconds=route.receipt_deadline_seconds)
        elif result.status == "unknown":  # the send intent stays: the reconcile reads it
            wait = result.reconcile_in if result.reconcile_in is not None else (
                route.reconcile_seconds if route else 300)
            values.update(status="unknown", next_attempt_at=now + timedelta(seconds=wait))
        elif result.status == "retry":
            delay = backoff_delay(max(attempts, 1), base=self.settings.retry_base_seconds,
                                  cap=self.settings.retry_max_seconds,
                                  retry_after=result.retry_after)
            next_at = now + timedelta(seconds=delay)
            if attempts >= self.settings.max_attempts:
                values.update(status="dead")
            elif notification.expires_at is not None and next_at > notification.expires_at:
                values.update(status="expired", last_error="expires before the next retry")
            else:
                values.update(status="pending", next_attempt_at=next_at)
        else:
            values.update(status=result.status)
        if values["status"] not in ("sent", "unknown"):  # no call of this one is outstanding
            values.update(send_started_at=None, send_provider=None)
        return values

    async def _write_outcomes(self, session: AsyncSession, outcomes: list[_Outcome]) -> list[None]:
        """Write a group of outcomes: the notifications this worker still leases get their next
        state (one executemany per shape of change), an attempt log and a timeline entry each;
        those that failed for good plan their fallback channel."""
        owned = await self._still_leased(session, [o.notification.id for o in outcomes])
        written = []
        for outcome in outcomes:
            # Writing releases the lease: a second outcome for the same lease finds it gone.
            current = owned.pop(outcome.notification.id, None)
            if current is not None:
                written.append((outcome, _after_receipts(self._next_state(outcome), current)))
        await self._update_notifications(session, [(o, v) for o, (v, _) in written])
        attempts, timeline = [], []
        for outcome, (values, reported) in written:
            notification = outcome.notification
            for record in outcome.result.attempts:
                attempts.append(_attempt_row(notification.id, values["attempts"], record))
            timeline.append(_timeline_row(outcome, {**values, "status": reported}))
        if attempts:
            await session.execute(DeliveryAttempt.__table__.insert(), attempts)
        if timeline:
            await session.execute(TimelineEntry.__table__.insert(), timeline)
        for outcome, (values, reported) in written:
            if values["status"] == reported and reported in FAILED_FOR_GOOD:
                await plan_fallback(session, self.planner, outcome.notification,
                                    values["last_error"] or values["status"], outcome.finished_at)
        return [None] * len(outcomes)

    async def _still_leased(self, session: AsyncSession, ids: list[str]) -> dict[str, str]:
        """Which of ``ids`` this worker still leases, with their status now: after its lease
        ran out a row belongs to whichever worker claimed it next. Locked on PostgreSQL, so that
        no claim takes one over before this transaction writes it."""
        table = Notification.__table__
        query = (select(table.c.id, table.c.status)
                 .where(table.c.id.in_(ids), table.c.lease_owner == self.owner)
                 .order_by(table.c.id))  # lock in one order
        return dict((await session.execute(lock_for_update(session, query))).all())

    async def _update_notifications(self, session: AsyncSession,
                                    written: list[tuple[_Outcome, dict]]) -> None:
        """One executemany per set of columns changed (sent, retry, failed... differ)."""
        groups: dict[tuple[str, ...], list[dict]] = {}
        for outcome, values in written:
            params = {f"new_{key}": value for key, value in values.items()}
            params["old_id"] = outcome.notification.id
            groups.setdefault(tuple(sorted(values)), []).append(params)
        for keys, params in groups.items():
            await session.execute(self._update_statement(keys), params)

    def _update_statement(self, keys: tuple[str, ...]) -> Update:
        statement = self._updates.get(keys)
        if statement is None:
            table = Notification.__table__
            # Typed binds: the UTC datetime and JSON columns convert their values.
            statement = (update(table)
                         .where(table.c.id == bindparam("old_id", type_=table.c.id.type),
                                table.c.lease_owner == self.owner)
                         .values({key: bindparam(f"new_{key}", type_=table.c[key].type)
                                  for key in keys}))
            self._updates[keys] = statement
        return statement


def _after_receipts(values: dict, current: str) -> tuple[dict, str]:
    """The values to write, and the status the send itself reached.

    The provider's status webhook can arrive before the send's outcome is written (it
    delivered within the group-commit window): a ``delivered`` or ``bounced`` the receipt
    already recorded stays, and no receipt deadline is set that would fail the message over
    to a second provider. The attempt, the provider and the lease release are written as
    usual."""
    reported = values["status"]
    if STATUS_RANK.get(current, 0) <= STATUS_RANK.get(reported, 0):
        return values, reported
    kept = {key: value for key, value in values.items()
            if key not in ("receipt_due_at", "next_attempt_at", "last_error")}
    return {**kept, "status": current}, reported


def _timeline_row(outcome: _Outcome, values: dict) -> dict:
    notification = outcome.notification
    return {
        "return_id": notification.return_id, "kind": "notification",
        "outcome": values["status"], "event_type": None, "from_state": None,
        "to_state": None, "inbox_event_id": notification.inbox_event_id,
        "notification_id": notification.id,
        "detail": {"channel": notification.channel, "stage": notification.stage,
                   "provider": values["provider"],
                   **({"error": values["last_error"]} if values.get("last_error") else {})},
        "occurred_at": outcome.finished_at, "recorded_at": outcome.finished_at,
    }


async def _load_claimed(session: AsyncSession, ids: list[str]) -> list[tuple]:
    """(notification, return, customer or None) snapshots of the notifications ``ids``, in that
    order, in one query."""
    notifications, returns = Notification.__table__, Return.__table__
    customers = Customer.__table__
    query = (select(*_NOTIFICATION.columns, *_RETURN.columns, *_CUSTOMER.columns)
             .select_from(notifications.join(returns, returns.c.id == notifications.c.return_id)
                          .outerjoin(customers, customers.c.id == returns.c.customer_id))
             .where(notifications.c.id.in_(ids)))
    ends = (len(_NOTIFICATION.columns), len(_NOTIFICATION.columns) + len(_RETURN.columns))
    loaded = {}
    for row in (await session.execute(query)).all():
        notification = _NOTIFICATION.read(row[:ends[0]])
        customer = row[ends[1]:]
        loaded[notification.id] = (notification, _RETURN.read(row[ends[0]:ends[1]]),
                                   _CUSTOMER.read(customer) if customer[_CUSTOMER.id_at] is not None
                                   else None)  # no customer row: the outer join gave NULLs
    return [loaded[id_] for id_ in ids if id_ in loaded]


def _earlier_unfinished():  # noqa: ANN202
    """An earlier stage of the same return on the same channel is still on its way: the later
    one waits, so stages never arrive out of order, whichever worker holds which."""
    later = Notification.__table__.c
    earlier = Notification.__table__.alias("earlier").c
    return exists().where(
        earlier.return_id == later.return_id,
        earlier.channel == later.channel,
        earlier.priority == later.priority,  # a campaign message never holds back a stage
        earlier.status.in_(("pending", "sending", "unknown")),
        or_(earlier.created_at < later.created_at,
            and_(earlier.created_at == later.created_at,
                 earlier.inbox_event_id < later.inbox_event_id)))


#: Built once: it has no parameters, and claims are frequent.
_EARLIER_UNFINISHED = _earlier_unfinished()


def _attempt_row(notification_id: str, attempt_no: int, record: AttemptRecord) -> dict:
    return {"notification_id": notification_id, "attempt_no": attempt_no,
            "provider": record.provider, "outcome": record.outcome,
            "provider_message_id": record.provider_message_id, "error": record.error,
            "started_at": record.started_at, "duration_ms": round(record.duration_ms, 3)}
