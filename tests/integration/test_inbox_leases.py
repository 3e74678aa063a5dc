"""An inbox event is applied, or its failure counted, only under the lease it was read with;
a batch in which some rows lost their lease keeps each return's events in inbox id order."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import select, update

from hub.connectors import Source
from hub.processing.worker import InboxProcessor
from hub.store.models import Customer, InboxEvent, Return, TimelineEntry
from hub.testing.factories import customer, event_payload
from hub.web.admin.gdpr import erase_customer
from tests.conftest import signed_headers, wait_for


async def post_event(client, payload: dict) -> None:
    body = json.dumps(payload).encode()
    response = await client.post("/webhooks/shop", data=body, headers=signed_headers(body))
    assert response.status == 202


async def inbox_rows(hub) -> list[InboxEvent]:
    async with hub.sessionmaker() as session:
        return list((await session.execute(select(InboxEvent).order_by(InboxEvent.id))).scalars())


class EnrichmentFailingLate(Source):
    """A source whose enrichment waits until told to go on, then fails."""

    type = "enrichment_failing_late"

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.go_on = asyncio.Event()

    async def enrich(self, event):
        self.started.set()
        await self.go_on.wait()
        raise RuntimeError("platform unavailable")


async def test_a_failed_enrichment_leaves_alone_a_row_another_worker_applied(hub, client):
    person = customer(31)
    await post_event(client, event_payload("return.approved", "R-31", customer=person))
    await hub.drain()
    await post_event(client, event_payload("return.received", "R-31", customer=person))
    assert hub.processor.handoff.queued == 1
    slow = EnrichmentFailingLate()
    hub.processor.sources = {**hub.processor.sources, "shop": slow}
    enriching = asyncio.create_task(hub.processor.run_once())  # this node enriches its copy...
    await wait_for(slow.started.is_set)
    async with hub.sessionmaker() as session, session.begin():  # ...the customer is erased...
        [erased] = (await session.execute(select(Customer))).scalars()
        assert await erase_customer(session, hub, erased) == 1
    other = InboxProcessor(hub.sessionmaker, hub.codec, hub.processor.applier,
                           hub.processor.privacy, hub.sources, hub.settings.worker, "node-b")
    await other.drain()  # ...another node claims the stripped row and applies it...
    assert other.claimed == 1

    slow.go_on.set()  # ...then this node's enrichment fails
    assert await enriching == 1

    received = (await inbox_rows(hub))[-1]
    # Not put back to pending (to be applied a second time): the failure was not counted.
    assert (received.status, received.attempts, received.last_error) == ("done", 0, None)
    await hub.processor.drain()
    async with hub.sessionmaker() as session:
        [ret] = (await session.execute(select(Return))).scalars()
    assert ret.state == "received" and hub.processor.claimed == 0


async def applied_in_order(hub) -> list[int]:
    """The inbox ids of the applied events, in the order their timeline entries were written
    (an event writes several)."""
    async with hub.sessionmaker() as session:
        ids = (await session.execute(select(TimelineEntry.inbox_event_id).where(
            TimelineEntry.inbox_event_id.is_not(None)).order_by(TimelineEntry.id))).scalars()
    return list(dict.fromkeys(ids))


async def test_a_batch_stops_before_an_event_that_lost_its_lease(hub, client):
    hub.processor.handoff.claim_interval = 3600  # queued events go alone, unless told
    person = customer(32)
    await post_event(client, event_payload("return.requested", "R-32", customer=person))
    await hub.drain()
    await post_event(client, event_payload("return.approved", "R-32", customer=person))
    await post_event(client, event_payload("return.received", "R-32", customer=person))
    assert hub.processor.handoff.queued == 2
    requested, approved, received = await inbox_rows(hub)
    async with hub.sessionmaker() as session, session.begin():  # the approval's lease is lost
        await session.execute(update(InboxEvent).where(InboxEvent.id == approved.id)
                              .values(lease_owner=None, lease_until=None))

    assert await hub.processor.run_once() == 2

    # The later event was not applied ahead of the lost one: its lease was given back...
    rows = await inbox_rows(hub)
    assert [(r.status, r.lease_owner) for r in rows] == [
        ("done", None), ("pending", None), ("pending", None)]
    assert await applied_in_order(hub) == [requested.id]
    await hub.processor.drain()  # ...and the next claim took both, in id order
    assert hub.processor.claimed == 2
    assert await applied_in_order(hub) == [requested.id, approved.id, received.id]
    assert {r.status for r in await inbox_rows(hub)} == {"done"}


async def test_a_handed_copy_of_a_row_a_claim_took_over_does_not_stop_the_batch(hub, client):
    person = customer(33)
    await post_event(client, event_payload("return.requested", "R-33", customer=person))
    await hub.drain()
    await post_event(client, event_payload("return.approved", "R-33", customer=person))
    await post_event(client, event_payload("return.received", "R-33", customer=person))
    requested, approved, received = await inbox_rows(hub)
    async with hub.sessionmaker() as session, session.begin():
        await session.execute(update(InboxEvent).where(InboxEvent.id == approved.id)
                              .values(lease_owner=None, lease_until=None))
    hub.processor.handoff.claim_interval = 0  # the claim takes the approval over...

    assert await hub.processor.run_once() == 3  # ...in a batch with its handed copy

    # The claimed copy is held: everything is applied, each event once, in order.
    assert hub.processor.claimed == 1
    assert await applied_in_order(hub) == [requested.id, approved.id, received.id]
    assert {r.status for r in await inbox_rows(hub)} == {"done"}
