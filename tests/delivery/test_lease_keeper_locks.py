"""The lease keeper's renewal (Outbox.extend) and the send intents cannot deadlock on
PostgreSQL: the intents of a group are written one statement per provider, so a group with
failover intents for two rows locks them in provider order, not id order. With a third
transaction holding the lower row a moment (a receipt, an outcome), a renewal that waited
for it made a cycle with the intents, and PostgreSQL aborted one of them (the intents' abort
fails every call of the group). The renewal skips a row another transaction holds."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from hub.store.engine import utcnow
from hub.store.models import Notification
from tests.conftest import database_url, make_settings, started_hub, wait_for
from tests.delivery.test_switching import events

pytestmark = [pytest.mark.asyncio, pytest.mark.postgres]


async def lock_waits(hub) -> int:
    """How many of the database's sessions wait for a row lock right now."""
    async with hub.engine.connect() as conn:
        return (await conn.exec_driver_sql(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()")).scalar()


async def test_renewal_and_failover_intents_do_not_deadlock(tmp_path):
    async with database_url("postgres", tmp_path) as url, \
            started_hub(make_settings(tmp_path, url)) as hub:
        await hub.inbox.submit(events(1, "R-locks"), utcnow())
        await hub.processor.drain()
        dispatcher = hub.dispatcher
        table = Notification.__table__
        async with hub.sessionmaker() as session, session.begin():
            ids = sorted((await session.execute(select(table.c.id))).scalars())
            assert len(ids) >= 2  # the email and the SMS of the approval
            low, high = ids[0], ids[1]
            # Both calls are open with this worker (intent recorded, lease held).
            await session.execute(update(table).where(table.c.id.in_([low, high])).values(
                status="sending", lease_owner=dispatcher.owner, send_started_at=utcnow(),
                lease_until=utcnow() + timedelta(seconds=30)))

        async with hub.sessionmaker() as holder:  # a receipt holding the lower row a moment
            await holder.begin()
            await holder.execute(select(table.c.id).where(table.c.id == low).with_for_update())

            renewal = asyncio.create_task(
                dispatcher.outbox.extend([low, high], utcnow() + timedelta(seconds=30)))
            # The renewal is over (it skipped the lower row) or waits for it.
            await wait_for(lambda: renewal.done() or lock_waits(hub), timeout=10)
            waiting = 0 if renewal.done() else 1

            async def intents() -> list[bool]:
                # The failover intents of both rows in one group: the higher row's provider
                # first (one UPDATE per provider, in the order the items came).
                async with hub.sessionmaker() as session, session.begin():
                    return await dispatcher.intents._write(
                        session, [(high, "second-a", False, None), (low, "second-b", False, None)])

            written = asyncio.create_task(intents())

            async def intents_wait() -> bool:  # the higher row is theirs; the lower is held
                return written.done() or await lock_waits(hub) > waiting
            await wait_for(intents_wait, timeout=10)
            await holder.commit()

        results = await asyncio.gather(renewal, written, return_exceptions=True)
    errors = [f"{which}: {type(r).__name__}: {str(r).splitlines()[0]}"
              for which, r in zip(("renewal", "intents"), results, strict=True)
              if isinstance(r, BaseException)]
    assert errors == []
    assert results[1] == [True, True]
