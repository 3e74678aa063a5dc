"""In-memory hand-offs (hub.store.handoff): what a process stores and plans, it works on from
memory, leased to it at insert; the claims take everything else, in the same order."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta
from decimal import Decimal
from email import message_from_bytes
from email.policy import default
from pathlib import Path

from sqlalchemy import select, update

from hub.store.engine import utcnow
from hub.store.handoff import Handoff
from hub.store.models import Customer, InboxEvent, Notification, Return
from hub.testing.factories import customer, event_payload
from hub.web.admin.gdpr import erase_customer
from tests.conftest import make_settings, signed_headers, started_hub, wait_for


async def post_event(client, payload: dict) -> int:
    body = json.dumps(payload).encode()
    response = await client.post("/webhooks/shop", data=body, headers=signed_headers(body))
    return response.status


async def notifications(hub) -> list:
    async with hub.sessionmaker() as session:
        return list((await session.execute(
            select(Notification).order_by(Notification.sent_at))).scalars())


async def test_a_fresh_event_reaches_the_provider_without_a_claim(hub, client):
    assert await post_event(client, event_payload("return.approved", "R-1")) == 202

    await hub.drain()

    sent = await notifications(hub)
    assert sorted(n.channel for n in sent) == ["email", "sms"]
    assert {n.status for n in sent} == {"sent"}
    # Stored by ingress and planned by the applier in this process: neither read back.
    assert (hub.processor.handoff.handed, hub.processor.claimed) == (1, 0)
    assert (hub.dispatcher.handoff.handed, hub.dispatcher.claimed) == (2, 0)
    async with hub.sessionmaker() as session:
        inbox = (await session.execute(select(InboxEvent))).scalar_one()
    assert inbox.status == "done"


async def test_a_later_stage_waits_for_the_earlier_one_still_on_its_way(hub, client):
    assert await post_event(client, event_payload("return.approved", "R-2")) == 202
    await hub.processor.drain()  # approved: email and SMS handed to the dispatcher, not sent
    assert await post_event(client, event_payload("return.label_created", "R-2")) == 202
    await hub.processor.drain()

    # The label email is not handed off while the approval email is unfinished...
    assert hub.dispatcher.handoff.handed == 2
    await hub.dispatcher.drain()

    # ...so the claim sends it, after the approval.
    assert hub.dispatcher.claimed == 1
    emails = [n for n in await notifications(hub) if n.channel == "email"]
    assert [n.stage for n in emails] == ["approved", "label_created"]
    assert emails[0].sent_at <= emails[1].sent_at


async def test_a_batch_of_handed_and_waiting_rows_leaves_none_stuck(hub, client):
    # One batch: the approval's email waits behind the request's (same return and channel),
    # its SMS is first in line. Rows leased and not leased go in one INSERT.
    assert await post_event(client, event_payload("return.requested", "R-7")) == 202
    assert await post_event(client, event_payload("return.approved", "R-7")) == 202
    await hub.processor.drain()
    assert hub.dispatcher.handoff.handed == 2  # the request's email and the approval's SMS

    await hub.dispatcher.drain()

    sent = await notifications(hub)
    assert sorted((n.stage, n.channel) for n in sent) == [
        ("approved", "email"), ("approved", "sms"), ("requested", "email")]
    assert {(n.status, n.attempts, n.lease_owner) for n in sent} == {("sent", 1, None)}
    assert hub.dispatcher.claimed == 1


async def test_rows_that_waited_half_their_lease_go_back_to_the_claims_at_once(
        tmp_path, db_url):
    from aiohttp.test_utils import TestClient, TestServer

    from hub.web.app import create_app

    settings = make_settings(tmp_path, db_url, worker={"lease_seconds": 2})
    async with started_hub(settings) as hub, TestClient(TestServer(create_app(hub))) as client:
        assert await post_event(client, event_payload("return.approved", "R-8")) == 202
        await hub.processor.drain()
        assert hub.dispatcher.handoff.handed == 2
        # The dispatcher comes to them only once half their 2 s lease is gone...
        half_gone = max(n.created_at for n in await notifications(hub)) + timedelta(seconds=1.1)
        await wait_for(lambda: utcnow() > half_gone, timeout=5)
        await hub.dispatcher.drain()

        # ...so it gives their leases back and claims them at once, not after the lease.
        assert (hub.dispatcher.handoff.dropped, hub.dispatcher.claimed) == (2, 2)
        sent = await notifications(hub)
        assert {(n.status, n.attempts) for n in sent} == {("sent", 1)} and len(sent) == 2


async def test_giving_back_a_stale_row_leaves_alone_one_a_claim_took_over(hub, client):
    assert await post_event(client, event_payload("return.approved", "R-9")) == 202
    await hub.processor.drain()
    handed = hub.dispatcher.handoff.take_all()  # as if they had waited in the queue...
    assert len(handed) == 2
    ids = [item.notification.id for _, item in handed]
    async with hub.sessionmaker() as session, session.begin():  # ...past their lease
        await session.execute(update(Notification).where(Notification.id.in_(ids))
                              .values(lease_until=utcnow() - timedelta(seconds=1)))
    retaken = await hub.dispatcher.claim(10)  # a claim takes them over, leases anew
    assert sorted(c.notification.id for c in retaken) == sorted(ids)

    await hub.dispatcher.outbox.release([(lease, item.notification.id)
                                         for lease, item in handed])

    # The old lease ends are not the rows' now: giving them back touched nothing.
    rows = await notifications(hub)
    assert {(n.status, n.lease_owner) for n in rows} == {("sending", hub.owner)}


async def test_a_handed_message_whose_recipient_was_erased_is_not_sent(hub, client):
    assert await post_event(client, event_payload("return.approved", "R-10")) == 202
    await hub.processor.drain()
    assert hub.dispatcher.handoff.handed == 2
    async with hub.sessionmaker() as session, session.begin():  # a privacy request meanwhile
        await session.execute(update(Notification).values(recipient_enc=None))

    await hub.drain()

    assert not list(Path(hub.sinks["outbox"].directory).glob("*.*"))
    assert {n.status for n in await notifications(hub)} <= {"skipped", "pending"}


async def test_an_event_erased_while_handed_is_applied_stripped(hub, client):
    person = customer(11, attributes={"slack_id": "U0ERASED11"})
    assert await post_event(client, event_payload("return.approved", "R-11",
                                                  customer=person)) == 202
    await hub.drain()
    assert await post_event(client, event_payload("return.received", "R-11",
                                                  customer=person)) == 202
    assert hub.processor.handoff.queued == 1  # the received event waits in memory...
    async with hub.sessionmaker() as session, session.begin():  # ...while it is erased
        [erased] = (await session.execute(select(Customer))).scalars()
        assert await erase_customer(session, hub, erased) == 1

    await hub.processor.drain()

    async with hub.sessionmaker() as session:
        [ret] = (await session.execute(select(Return))).scalars()
        [after] = (await session.execute(select(Customer))).scalars()
        inbox = list((await session.execute(select(InboxEvent))).scalars())
    assert ret.state == "received" and {e.status for e in inbox} == {"done"}
    assert ret.details_enc is None  # the items
    assert (after.email_enc, after.phone_enc, after.name_enc, after.attributes_enc,
            after.email_hash, after.phone_hash) == (None,) * 6
    assert after.identity == f"erased:{after.id}"
    # Applied from the row, claimed again once stripped, not from the copy in memory.
    assert hub.processor.claimed == 1


async def test_a_full_queue_leaves_the_rows_to_the_claims(hub, client):
    hub.processor.handoff.capacity = 0
    hub.dispatcher.handoff.capacity = 0
    assert await post_event(client, event_payload("return.approved", "R-3")) == 202

    await hub.drain()

    assert (hub.processor.handoff.handed, hub.processor.claimed) == (0, 1)
    assert (hub.dispatcher.handoff.handed, hub.dispatcher.claimed) == (0, 2)
    assert {n.status for n in await notifications(hub)} == {"sent"}


async def test_the_applier_waits_for_room_in_a_busy_dispatcher_s_queue(hub, client,
                                                                        monkeypatch):
    """A dispatcher whose queue is over half full (its sends slower than the webhooks come)
    holds the applier back until it has taken rows, so that the notifications planned next
    are handed to it, not written for its claims to read back."""
    # Patient enough that a slow machine cannot make the wait run out before the take.
    monkeypatch.setattr(hub.processor.settings, "idle_poll_seconds", 30.0)
    queue = hub.dispatcher.handoff
    queue.capacity = 4
    queue.worker_started()  # as Dispatcher.run does
    queue.put([(utcnow() + queue.lease, object()) for _ in range(3)])  # sends not yet started
    assert await post_event(client, event_payload("return.approved", "R-5")) == 202

    applying = asyncio.create_task(hub.processor.run_once())
    await asyncio.sleep(0.05)
    assert not applying.done()  # waiting for the dispatcher, the event not applied
    async with hub.sessionmaker() as session:
        assert (await session.execute(select(InboxEvent.status))).scalar_one() == "pending"

    assert len(queue.take(3, utcnow())) == 3  # the dispatcher starts its sends
    assert await asyncio.wait_for(applying, timeout=10) == 1
    assert queue.handed == 3 + 2  # the approval's email and SMS, in memory
    assert {n.lease_owner for n in await notifications(hub)} == {queue.owner}


async def test_a_stopping_process_gives_back_what_it_was_handed(tmp_path, db_url):
    from aiohttp.test_utils import TestClient, TestServer

    from hub.web.app import create_app

    # Leases far longer than the test: the next process must not have to wait them out.
    settings = make_settings(tmp_path, db_url, worker={"lease_seconds": 300})
    async with started_hub(settings) as first, \
            TestClient(TestServer(create_app(first))) as client:
        assert await post_event(client, event_payload("return.approved", "R-4")) == 202
        await first.processor.drain()  # planned and leased to this dispatcher, never sent
        assert first.dispatcher.handoff.handed == 2
        assert await post_event(client, event_payload("return.approved", "R-5")) == 202
        assert first.processor.handoff.queued == 1  # stored, never applied
    async with started_hub(settings) as second:
        await second.drain()

        # R-5's event is claimed; R-4's two messages are claimed, R-5's come handed off.
        assert (second.processor.claimed, second.dispatcher.claimed) == (1, 2)
        assert second.dispatcher.handoff.handed == 2
        sent = await notifications(second)
        assert len(sent) == 4 and {n.status for n in sent} == {"sent"}
        assert all(n.attempts == 1 for n in sent)


async def test_rows_handed_to_a_process_that_dies_are_taken_once_their_lease_runs_out(
        tmp_path, db_url):
    from aiohttp.test_utils import TestClient, TestServer

    from hub.web.app import create_app

    settings = make_settings(tmp_path, db_url, worker={"lease_seconds": 1})
    async with started_hub(settings) as first, \
            TestClient(TestServer(create_app(first))) as client:
        assert await post_event(client, event_payload("return.approved", "R-6")) == 202
        await first.processor.drain()
        # Dies: what it was handed is never worked on nor given back.
        first.dispatcher.handoff.take_all()
    async with started_hub(settings) as second:
        async def delivered() -> bool:
            await second.drain()
            return {n.status for n in await notifications(second)} == {"sent"}

        await wait_for(delivered, timeout=10)
        assert second.dispatcher.claimed == 2
        sent = await notifications(second)
        assert len(sent) == 2 and all(n.attempts == 1 for n in sent)


def test_a_row_whose_lease_is_half_gone_is_dropped_not_worked_on():
    now = utcnow()
    handoff: Handoff[str] = Handoff("node-a", lease_seconds=10, capacity=3, claim_interval=60)
    lease = handoff.lease_for(2, now)
    assert lease == now + timedelta(seconds=10)
    handoff.put([(lease, "a"), (now + timedelta(seconds=4), "stale"), (lease, "b")])

    assert handoff.lease_for(1, now) is None  # full
    assert handoff.take(5, now) == ["a", "b"]
    assert (handoff.handed, handoff.dropped) == (3, 1)
    # Given back with the lease end written on it (a claim that took it over wrote another).
    assert handoff.take_stale() == [(now + timedelta(seconds=4), "stale")]
    assert handoff.take_stale() == []
    assert handoff.lease_for(3, now) is not None


def test_rows_queued_in_memory_never_keep_the_claims_away_for_long():
    handoff: Handoff[str] = Handoff("node-a", lease_seconds=10, capacity=3, claim_interval=0.2)
    assert handoff.claim_is_due()  # nothing queued: claim
    handoff.put([(utcnow() + timedelta(seconds=10), "a")])
    assert not handoff.claim_is_due()  # queued rows first...
    deadline = time.monotonic() + 5
    while not handoff.claim_is_due():  # ...but a claim comes due again within the interval
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert handoff.take(1, utcnow()) == ["a"]
    assert handoff.claim_is_due()  # and at once when the queue is empty


async def test_a_handed_message_holds_the_amounts_a_claim_would_read_back(hub, client):
    payload = event_payload("return.approved", "R-amounts")
    payload["refund_amount"] = {"amount": "12.34565", "currency": "USD"}
    payload["order_total"] = {"amount": "29", "currency": "USD"}
    assert await post_event(client, payload) == 202
    await hub.processor.drain()  # planned and handed to the dispatcher, not sent yet

    handed = [item for _lease, item in hub.dispatcher.handoff.take_all()]
    assert handed
    async with hub.sessionmaker() as session:
        stored = (await session.execute(select(Return.refund_amount, Return.order_total)
                                        .where(Return.external_id == "R-amounts"))).one()
    assert tuple(stored) == (Decimal("12.3457"), Decimal("29.0000"))
    for item in handed:  # the same values, to the last digit a template could print
        assert (str(item.ret.refund_amount), str(item.ret.order_total)) == ("12.3457", "29.0000")


async def test_a_handed_off_message_is_composed_without_decrypting_what_was_just_encrypted(
        hub, client, monkeypatch):
    """The applier encrypted the recipient, the name and the details moments before it
    handed the row over: composing it opens none of them again, and says the same."""
    payload = event_payload("return.approved", "R-plain")
    assert await post_event(client, payload) == 202
    await hub.processor.drain()
    assert hub.dispatcher.handoff.handed == 2

    cipher = hub.codec.cipher
    opened: list[bytes] = []
    decrypt = cipher.decrypt_bytes
    monkeypatch.setattr(cipher, "decrypt_bytes", lambda token: opened.append(token)
                        or decrypt(token))
    await hub.dispatcher.drain()

    assert opened == []
    assert (hub.dispatcher.claimed, {n.status for n in await notifications(hub)}) == (0, {"sent"})
    outbox = Path(hub.sinks["outbox"].directory)
    email = message_from_bytes(next(outbox.glob("*.eml")).read_bytes(), policy=default)
    sms = json.loads(next(outbox.glob("*.sms.json")).read_text())
    assert email["To"] == payload["customer"]["email"]
    assert "Hi Test" in email.get_body(("plain",)).get_content()  # the name
    assert "Blue tee" in email.get_body(("plain",)).get_content()  # the details' items
    assert sms["to"] == payload["customer"]["phone"]
