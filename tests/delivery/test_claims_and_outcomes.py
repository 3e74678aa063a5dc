"""Leases and outcome writes on SQLite and PostgreSQL: a claim returns each row as it was before
the claim, in order, whichever statement shape the backend gets; an outcome is written only
while this worker still holds the lease, with the column types applied."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import and_, select, update

from hub.delivery.dispatcher import _Outcome
from hub.delivery.router import AttemptRecord, RouteResult
from hub.delivery.takeover import TakeoverGate
from hub.events import ReturnEvent
from hub.runtime import Hub
from hub.store import claims
from hub.store.engine import utcnow
from hub.store.models import DeliveryAttempt, InboxEvent, Notification, TimelineEntry
from hub.testing.factories import event_payload
from tests.conftest import claims_only, make_settings, started_hub


def event(return_id: str) -> ReturnEvent:
    return ReturnEvent.model_validate({**event_payload("return.approved", return_id),
                                       "source": "shop", "source_event_id": f"{return_id}-ev"})


@pytest.fixture
async def planned(tmp_path: Path, db_url: str) -> AsyncIterator[Hub]:
    """A hub with three returns' email notifications planned (one each), nothing sent."""
    async with started_hub(make_settings(tmp_path, db_url, notifications={"stages": {
        "approved": {"channels": ["email"], "fallback": ["sms"]}}})) as hub:
        claims_only(hub)
        await hub.inbox.submit([event(f"R-{n}") for n in range(3)], utcnow())
        await hub.processor.drain()
        yield hub


async def rows(hub: Hub) -> list[Notification]:
    async with hub.sessionmaker() as session:
        return list((await session.execute(
            select(Notification).order_by(Notification.next_attempt_at))).scalars())


async def set_rows(hub: Hub, ids: list[str], **values) -> None:
    async with hub.sessionmaker() as session, session.begin():
        await session.execute(update(Notification).where(Notification.id.in_(ids))
                              .values(**values))


async def test_claim_returns_the_prior_status_in_order(planned: Hub, claim_style: str):
    hub, now = planned, utcnow()
    first, second, third = await rows(hub)
    await set_rows(hub, [first.id], next_attempt_at=now - timedelta(minutes=3))
    await set_rows(hub, [second.id], status="unknown", next_attempt_at=now - timedelta(minutes=2))
    await set_rows(hub, [third.id], status="sent", next_attempt_at=now - timedelta(minutes=1),
                   receipt_due_at=now - timedelta(seconds=1))
    claimed = await hub.dispatcher.claim(10)
    assert [(c.notification.id, c.prior_status) for c in claimed] == [
        (first.id, "pending"), (second.id, "unknown"), (third.id, "sent")]
    assert claimed[0].ret.id == first.return_id and claimed[0].customer is not None
    after = await rows(hub)
    assert {n.status for n in after} == {"sending"}
    assert {n.lease_owner for n in after} == {hub.dispatcher.owner}
    assert all(n.lease_until > now for n in after)
    assert await hub.dispatcher.claim(10) == []  # leased: nobody else's until it runs out


async def test_claim_takes_over_an_expired_lease(planned: Hub, claim_style: str):
    """A crashed worker's row is uncertain only if its send intent was recorded; without one
    no provider call had started, and it is pending."""
    hub, now = planned, utcnow()
    first, second, _ = await rows(hub)
    await set_rows(hub, [first.id, second.id], status="sending", lease_owner="crashed-node",
                   lease_until=now - timedelta(seconds=1))
    await set_rows(hub, [first.id], send_started_at=now - timedelta(seconds=2),
                   send_provider="outbox")
    claimed = {c.notification.id: c.prior_status for c in await hub.dispatcher.claim(10)}
    assert claimed[first.id] == "sending"
    assert claimed[second.id] == "pending"
    assert len(claimed) == 3


async def test_after_an_outage_no_started_send_is_taken_over_for_a_lease(planned: Hub,
                                                                         claim_style: str):
    """Just after the database failed, a row whose call started (a send intent) may belong to a
    worker that lives and could not renew: it is left alone for a lease. A row whose call had
    not started is taken as before; once the database has answered for a lease, both are."""
    hub, now = planned, utcnow()
    started, not_started, _ = await rows(hub)
    await set_rows(hub, [started.id, not_started.id], status="sending",
                   lease_owner="cut-off-node", lease_until=now - timedelta(seconds=1))
    await set_rows(hub, [started.id], send_started_at=now - timedelta(seconds=2),
                   send_provider="outbox")
    clock = [100.0]
    gate = hub.dispatcher.takeovers = TakeoverGate(hub.settings.worker.lease_seconds,
                                                   clock=lambda: clock[0])
    gate.database_failed()
    first = {c.notification.id: c.prior_status for c in await hub.dispatcher.claim(10)}
    assert started.id not in first
    assert first[not_started.id] == "pending"
    clock[0] += hub.settings.worker.lease_seconds
    second = {c.notification.id: c.prior_status for c in await hub.dispatcher.claim(10)}
    assert second == {started.id: "sending"}


async def test_claim_of_ids_honours_the_limit_and_order(planned: Hub, claim_style: str):
    hub, now = planned, utcnow()
    async with hub.sessionmaker() as session, session.begin():
        await session.execute(update(InboxEvent).values(status="pending", available_at=now))
    async with hub.sessionmaker() as session, session.begin():
        ids = await claims.claim(session, InboxEvent, ready=and_(
            InboxEvent.status == "pending", InboxEvent.lease_until.is_(None)),
            order_by=InboxEvent.id, limit=2, owner="me", lease_seconds=5, now=now)
    async with hub.sessionmaker() as session:
        events = list((await session.execute(
            select(InboxEvent).order_by(InboxEvent.id))).scalars())
    assert ids == [events[0].id, events[1].id]
    assert [e.lease_owner for e in events] == ["me", "me", None]


def sent(notification, now) -> _Outcome:
    record = AttemptRecord("outbox", "accepted", now, 2.5, "pm-1")
    return _Outcome(notification, RouteResult("sent", "outbox", "pm-1", attempts=[record]), now)


def failed(notification, now) -> _Outcome:
    record = AttemptRecord("outbox", "permanent", now, 1.0, error="rejected")
    return _Outcome(notification, RouteResult("failed", "outbox", error="rejected",
                                              attempts=[record]), now)


async def write(hub: Hub, outcomes: list[_Outcome]) -> None:
    async with hub.sessionmaker() as session, session.begin():
        await hub.dispatcher._write_outcomes(session, outcomes)


async def test_outcomes_skip_rows_whose_lease_was_taken_over(planned: Hub):
    hub, now = planned, utcnow()
    claimed = await hub.dispatcher.claim(10)
    mine_sent, mine_failed, taken = (c.notification for c in claimed)
    await set_rows(hub, [taken.id], lease_owner="other-node")
    async with hub.sessionmaker() as session:
        planning = list((await session.execute(select(TimelineEntry.id))).scalars())
    await write(hub, [sent(mine_sent, now), failed(mine_failed, now), sent(taken, now)])
    async with hub.sessionmaker() as session:
        by_id = {n.id: n for n in (await session.execute(select(Notification))).scalars()}
        attempts = list((await session.execute(select(DeliveryAttempt))).scalars())
        timeline = list((await session.execute(select(TimelineEntry).where(
            TimelineEntry.id > max(planning)).order_by(TimelineEntry.id))).scalars())
    assert by_id[taken.id].status == "sending" and by_id[taken.id].lease_owner == "other-node"
    assert by_id[mine_sent.id].status == "sent" and by_id[mine_sent.id].lease_owner is None
    assert by_id[mine_sent.id].sent_at == now  # the UTC datetime type round-trips
    assert by_id[mine_sent.id].tried_providers == ["outbox"]  # the JSON type round-trips
    assert by_id[mine_sent.id].provider_message_id == "pm-1"
    assert by_id[mine_failed.id].status == "failed"
    assert by_id[mine_failed.id].last_error == "rejected"
    # The taken row's call is logged too (it was made); its row is the other worker's.
    assert sorted(a.notification_id for a in attempts) == sorted(
        [mine_sent.id, mine_failed.id, taken.id])
    assert [(t.notification_id, t.outcome) for t in timeline][:2] == [
        (mine_sent.id, "sent"), (mine_failed.id, "failed")]
    # Only the written failure plans its fallback, after its own timeline entry.
    fallbacks = [n for n in by_id.values() if n.fallback_of]
    assert [(n.fallback_of, n.channel) for n in fallbacks] == [(mine_failed.id, "sms")]
    assert [t.outcome for t in timeline[2:]] == ["fallback_planned"]


async def test_one_outcome_per_lease_and_retries_come_back(planned: Hub):
    hub = planned
    claimed = await hub.dispatcher.claim(10)
    notification = claimed[0].notification
    earlier = utcnow() - timedelta(hours=1)  # its retry is due already
    retry = _Outcome(notification, RouteResult("retry", "outbox", error="timeout", attempts=[
        AttemptRecord("outbox", "transient", earlier, 1.0, error="timeout")]), earlier)
    await write(hub, [retry, sent(notification, utcnow())])  # the second finds no lease
    [row] = [n for n in await rows(hub) if n.id == notification.id]
    assert (row.status, row.attempts, row.tried_providers) == ("pending", 1, ["outbox"])
    assert row.next_attempt_at < utcnow()
    again = {c.notification.id: c for c in await hub.dispatcher.claim(10)}
    assert again[notification.id].prior_status == "pending"
    assert again[notification.id].notification.attempts == 1


async def test_a_receipt_that_came_first_is_not_undone_by_the_send_outcome(planned: Hub):
    """The provider delivered (and its status webhook was recorded) before the worker wrote
    the send's outcome: the notification stays delivered or bounced, the attempt is still
    recorded, the lease released, and no receipt deadline is set (which would fail a
    delivered message over to a second provider)."""
    hub, now = planned, utcnow()
    delivered, bounced, plain = (c.notification for c in await hub.dispatcher.claim(10))
    await set_rows(hub, [delivered.id], status="delivered", delivered_at=now)
    await set_rows(hub, [bounced.id], status="bounced", last_error="bounce: 550 no such user")
    hub.dispatcher.router.channels["email"].receipt_deadline_seconds = 60
    await write(hub, [sent(delivered, now), sent(bounced, now), sent(plain, now)])
    by_id = {n.id: n for n in await rows(hub)}
    assert [by_id[n.id].status for n in (delivered, bounced, plain)] == [
        "delivered", "bounced", "sent"]
    assert by_id[bounced.id].last_error == "bounce: 550 no such user"
    for notification in (delivered, bounced, plain):
        row = by_id[notification.id]
        assert (row.attempts, row.lease_owner, row.sent_at) == (1, None, now)
    assert by_id[delivered.id].receipt_due_at is None
    async with hub.sessionmaker() as session:
        timeline = {(t.notification_id, t.outcome) for t in (await session.execute(
            select(TimelineEntry).where(TimelineEntry.kind == "notification"))).scalars()}
    assert (delivered.id, "sent") in timeline  # what the send did, for the record
    assert not [n for n in by_id.values() if n.fallback_of == bounced.id]
