"""The dispatcher: claims due notifications, renders them, routes them, records the outcome.

Claims are leases (see :mod:`hub.store.claims`): a notification claimed by a worker that dies
is claimed again once the lease runs out. Sends run concurrently up to
``worker.concurrency``; their outcomes are written back with group commit.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import and_, or_, select, update

from hub.delivery.context import build_context
from hub.delivery.retry import backoff_delay
from hub.delivery.router import AttemptRecord, RouteResult
from hub.logs import get_logger
from hub.messages import OutboundMessage
from hub.store.claims import claim
from hub.store.engine import utcnow
from hub.store.group_commit import GroupCommitter
from hub.store.models import Customer, DeliveryAttempt, Notification, Return, TimelineEntry
from hub.templates import TemplateRenderError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from hub.config import BrandSettings, WorkerSettings
    from hub.delivery.router import FailoverRouter
    from hub.store.codec import EventCodec
    from hub.templates import TemplateRenderer

log = get_logger("hub.dispatcher")


@dataclass(slots=True)
class _Claimed:
    notification: Notification
    ret: Return
    customer: Customer | None


@dataclass(slots=True)
class _Outcome:
    notification: Notification
    result: RouteResult
    finished_at: datetime


class Dispatcher:
    """Delivers the outbox. :meth:`run` loops until cancelled; :meth:`drain` runs until idle."""

    def __init__(self, sessionmaker: async_sessionmaker, codec: EventCodec,
                 renderer: TemplateRenderer, router: FailoverRouter, brand: BrandSettings,
                 settings: WorkerSettings, owner: str) -> None:
        self.sessionmaker = sessionmaker
        self.codec = codec
        self.renderer = renderer
        self.router = router
        self.brand = brand
        self.settings = settings
        self.owner = owner
        self.wake = asyncio.Event()
        self._inflight: set[asyncio.Task] = set()
        self._results: GroupCommitter[_Outcome, None] = GroupCommitter(
            sessionmaker, self._write_outcomes, name="outcomes")

    async def start(self) -> None:
        """Start the outcome writer."""
        await self._results.start()

    async def stop(self) -> None:
        """Wait for sends in flight, write their outcomes, stop."""
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)
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
            batch = await self._claim(min(free, self.settings.batch_size))
        except Exception as exc:  # database outage: keep the loop alive, try again soon
            log.error("notification_claim_failed", error=f"{type(exc).__name__}: {exc}"[:300])
            await asyncio.sleep(self.settings.idle_poll_seconds)
            return 0
        for item in batch:
            task = asyncio.create_task(self._deliver(item))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
        return len(batch)

    async def drain(self) -> None:
        """Deliver until nothing is due and nothing is in flight (tests, ``simulate``)."""
        while True:
            started = await self.claim_and_start()
            if not started and not self._inflight:
                return
            if not started:
                await asyncio.wait(self._inflight)

    async def _claim(self, limit: int) -> list[_Claimed]:
        now = utcnow()
        ready = or_(
            and_(Notification.status == "pending", Notification.next_attempt_at <= now,
                 or_(Notification.lease_until.is_(None), Notification.lease_until < now)),
            # A worker died mid-send: its lease ran out.
            and_(Notification.status == "sending", Notification.lease_until < now),
        )
        async with self.sessionmaker() as session, session.begin():
            ids = await claim(session, Notification, ready=ready,
                              order_by=Notification.next_attempt_at, limit=limit,
                              owner=self.owner, lease_seconds=self.settings.lease_seconds,
                              now=now, values={"status": "sending"})
            if not ids:
                return []
            rows = list((await session.execute(
                select(Notification).where(Notification.id.in_(ids)))).scalars())
            returns = {r.id: r for r in (await session.execute(
                select(Return).where(Return.id.in_({n.return_id for n in rows})))).scalars()}
            customer_ids = {r.customer_id for r in returns.values() if r.customer_id}
            customers = {c.id: c for c in (await session.execute(
                select(Customer).where(Customer.id.in_(customer_ids)))).scalars()}
        return [_Claimed(n, returns[n.return_id], customers.get(returns[n.return_id].customer_id))
                for n in rows]

    def compose(self, item: _Claimed) -> OutboundMessage:
        """Render a claimed notification into the message a sink sends."""
        notification = item.notification
        context = build_context(notification=notification, ret=item.ret, customer=item.customer,
                                brand=self.brand, codec=self.codec)
        rendered = self.renderer.render(notification.template, notification.channel, context)
        return OutboundMessage(
            message_id=notification.id, channel=notification.channel,
            to=self.codec.cipher.decrypt(notification.recipient_enc) or "",
            subject=rendered.subject, text=rendered.text, html=rendered.html,
            from_address=self.brand.from_email, from_name=self.brand.from_name or self.brand.store_name,
            reply_to=self.brand.support_email,
            metadata={"return": item.ret.external_id, "stage": notification.stage},
            template=notification.template)

    async def _deliver(self, item: _Claimed) -> None:
        try:
            message = self.compose(item)
        except (TemplateRenderError, ValueError) as exc:
            result = RouteResult(status="dead", error=f"cannot render: {exc}"[:500])
        else:
            result = await self.router.deliver(message)
        try:
            await self._results.submit(_Outcome(item.notification, result, utcnow()))
        except Exception as exc:  # the lease runs out and another worker retries the row
            log.error("outcome_write_failed", notification_id=item.notification.id,
                      error=f"{type(exc).__name__}: {exc}"[:300])

    def _next_state(self, outcome: _Outcome) -> dict:
        notification, result, now = outcome.notification, outcome.result, outcome.finished_at
        attempts = notification.attempts + 1
        values = {"id": notification.id, "attempts": attempts, "lease_owner": None,
                  "lease_until": None, "last_error": result.error,
                  "provider": result.provider or notification.provider}
        if result.status == "sent":
            values.update(status="sent", sent_at=now,
                          provider_message_id=result.provider_message_id)
        elif result.status == "retry" and attempts < self.settings.max_attempts:
            delay = backoff_delay(attempts, base=self.settings.retry_base_seconds,
                                  cap=self.settings.retry_max_seconds,
                                  retry_after=result.retry_after)
            values.update(status="pending", next_attempt_at=now + timedelta(seconds=delay))
        elif result.status == "retry":
            values.update(status="dead")
        else:
            values.update(status=result.status)
        return values

    async def _write_outcomes(self, session: AsyncSession, outcomes: list[_Outcome]) -> list[None]:
        updates, attempts, timeline = [], [], []
        for outcome in outcomes:
            values = self._next_state(outcome)
            updates.append(values)
            notification = outcome.notification
            for record in outcome.result.attempts:
                attempts.append(_attempt_row(notification.id, values["attempts"], record))
            timeline.append({
                "return_id": notification.return_id, "kind": "notification",
                "outcome": values["status"], "event_type": None, "from_state": None,
                "to_state": None, "inbox_event_id": notification.inbox_event_id,
                "notification_id": notification.id,
                "detail": {"channel": notification.channel, "stage": notification.stage,
                           "provider": values["provider"],
                           **({"error": values["last_error"]} if values["last_error"] else {})},
                "occurred_at": outcome.finished_at, "recorded_at": outcome.finished_at,
            })
        # Only rows this worker still leases: a row whose lease ran out belongs to another.
        for values in updates:
            await session.execute(
                update(Notification).where(Notification.id == values["id"],
                                           Notification.lease_owner == self.owner)
                .values(**{k: v for k, v in values.items() if k != "id"})
                .execution_options(synchronize_session=False))
        if attempts:
            await session.execute(DeliveryAttempt.__table__.insert(), attempts)
        await session.execute(TimelineEntry.__table__.insert(), timeline)
        return [None] * len(outcomes)


def _attempt_row(notification_id: str, attempt_no: int, record: AttemptRecord) -> dict:
    return {"notification_id": notification_id, "attempt_no": attempt_no,
            "provider": record.provider, "outcome": record.outcome,
            "provider_message_id": record.provider_message_id, "error": record.error,
            "started_at": record.started_at, "duration_ms": round(record.duration_ms, 3)}
