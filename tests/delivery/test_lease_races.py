"""Two deliveries of one notification cannot both call its provider, however a lease runs out
(found in the chaos run: an email, once a text, sent twice while no process was killed).

- A send intent written after a wait for a row lock gives its call a whole lease from the end
  of the wait, not from before it: one whose lease had run out by its commit was taken over at
  once as a started send, and the email went twice (PostgreSQL).
- A notification this worker is already delivering, which its own claim takes back after its
  lease ran out (a renewal came late), is not delivered a second time: both deliveries would
  pass the intent's owner check.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from hub.store.engine import utcnow
from hub.store.models import Notification
from tests.conftest import claims_only, database_url, make_settings, started_hub, wait_for
from tests.delivery.test_lease_keeper_locks import lock_waits
from tests.delivery.test_switching import events

LEASE = 1.2


async def _leased_to_the_dispatcher(hub, until) -> str:  # noqa: ANN001
    """Plan one approval; its first notification leased to the hub's dispatcher (no call)."""
    await hub.inbox.submit(events(1, "R-race"), utcnow())
    await hub.processor.drain()
    table = Notification.__table__
    async with hub.sessionmaker() as session, session.begin():
        first = sorted((await session.execute(select(table.c.id))).scalars())[0]
        await session.execute(update(table).where(table.c.id == first).values(
            status="sending", lease_owner=hub.dispatcher.owner, lease_until=until,
            send_started_at=None))
    return first


@pytest.mark.postgres
async def test_an_intent_that_waited_for_a_lock_leases_from_the_end_of_the_wait(tmp_path):
    async with database_url("postgres", tmp_path) as url, started_hub(make_settings(
            tmp_path, url, worker={"lease_seconds": LEASE})) as hub:
        claims_only(hub)
        notification_id = await _leased_to_the_dispatcher(hub, utcnow() + timedelta(seconds=30))
        table = Notification.__table__
        async with hub.sessionmaker() as holder:  # a claim holding the row meanwhile
            await holder.begin()
            await holder.execute(select(table.c.id).where(table.c.id == notification_id)
                                 .with_for_update())
            intent = asyncio.create_task(hub.dispatcher.intents.record(notification_id, "outbox"))
            await wait_for(lambda: lock_waits(hub), timeout=10)
            await asyncio.sleep(LEASE)  # the wait itself: longer than a lease
            await holder.commit()
        assert await intent is True
        recorded = utcnow()
        async with hub.sessionmaker() as session:
            lease_until = (await session.execute(select(table.c.lease_until).where(
                table.c.id == notification_id))).scalar_one()
    # Written after the wait: most of a lease is left once the intent is committed.
    assert lease_until > recorded + timedelta(seconds=LEASE / 2), (lease_until, recorded)


async def test_a_row_this_worker_delivers_is_not_delivered_again_by_its_own_claim(tmp_path,
                                                                                 db_url):
    async with started_hub(make_settings(tmp_path, db_url)) as hub:
        claims_only(hub)
        dispatcher = hub.dispatcher
        # Being delivered here, and its lease ran out: the state a late renewal leaves.
        notification_id = await _leased_to_the_dispatcher(hub, utcnow() - timedelta(seconds=1))
        dispatcher.keeper.opened(notification_id)
        try:
            await dispatcher.claim_and_start()
            started = [task for task in dispatcher._inflight]
            await asyncio.gather(*started)
        finally:
            dispatcher.keeper.closed(notification_id)
        async with hub.sessionmaker() as session:
            row = (await session.execute(select(Notification).where(
                Notification.id == notification_id))).scalar_one()
        # The claim took it back (leased to this worker again) and started nothing for it.
        assert row.lease_owner == dispatcher.owner and row.lease_until > utcnow()
        assert row.status == "sending" and row.send_started_at is None
        assert row.attempts == 0
