"""Two workers (two nodes on one database) applying two systems' events of one return at the
same moment still make one return: a batch locks the references it reads until it commits
(PostgreSQL; SQLite's writers are serialized anyway)."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from hub.events import ReturnEvent
from hub.runtime import Hub
from hub.store.engine import utcnow
from hub.store.models import Return
from tests.conftest import TEST_SECRET, make_settings

ROUNDS = 12


def event(source: str, return_id: str, order: str) -> ReturnEvent:
    return ReturnEvent.model_validate({
        "type": "return.approved", "return_id": return_id, "order_number": order,
        "source": source, "source_event_id": f"{source}-{return_id}",
        "customer": {"id": "C-1", "email": "race@example.com"}})


async def test_two_nodes_racing_on_one_order_make_one_return(tmp_path, db_url):
    settings = make_settings(tmp_path, db_url, worker={"batch_size": 1}, sources={
        "shop": {"type": "standard_webhooks", "secret": TEST_SECRET,
                 "match": ["order_number"]},
        "wms": {"type": "standard_webhooks", "secret": TEST_SECRET,
                "match": ["order_number"]}}, notifications={"stages": {}})
    first, second = Hub.build(settings), Hub.build(settings)
    await first.start(workers=False)
    await second.start(workers=False, migrate=False)
    first.build_workers()
    second.build_workers()
    try:
        for n in range(ROUNDS):
            await first.inbox.submit([event("shop", f"S-{n}", f"#{n}")], utcnow())
            await first.inbox.submit([event("wms", f"W-{n}", f"#{n}")], utcnow())
            # Each node claims one of the two (SKIP LOCKED) and applies it at the same time.
            await asyncio.gather(first.processor.run_once(), second.processor.run_once())
            await first.processor.drain()
        async with first.sessionmaker() as session:
            count = (await session.execute(select(func.count()).select_from(Return)))
            assert count.scalar_one() == ROUNDS
    finally:
        await second.stop()
        await first.stop()
