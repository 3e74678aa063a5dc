"""An inbox event is applied, or its failure counted, only under the lease it was read with."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import select

from hub.connectors import Source
from hub.processing.worker import InboxProcessor
from hub.store.models import Customer, InboxEvent, Return
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
