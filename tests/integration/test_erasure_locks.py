"""An erasure and an applying batch that meet on one return lock its rows in the same order
(inbox rows, returns, customers), so they wait for each other instead of deadlocking
(PostgreSQL; SQLite's write transactions are serialized anyway)."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select, text, update

from hub.store.engine import utcnow
from hub.store.models import Customer, Return
from hub.store.returns_repo import ReturnsBatch
from hub.testing.factories import customer, event_payload
from hub.web.admin.gdpr import erase_customer
from hub.web.app import create_app
from tests.conftest import database_url, make_settings, signed_headers, started_hub, wait_for

_WAITING_ON_A_LOCK = text("SELECT count(*) FROM pg_stat_activity WHERE "
                          "datname = current_database() AND wait_event_type = 'Lock'")


@pytest.mark.postgres
async def test_an_erasure_waits_for_a_batch_holding_the_return_without_deadlock(tmp_path):
    async with database_url("postgres", tmp_path) as url, \
            started_hub(make_settings(tmp_path, url)) as hub:
        async with TestClient(TestServer(create_app(hub))) as client:
            body = json.dumps(event_payload("return.approved", "R-41",
                                            customer=customer(41))).encode()
            response = await client.post("/webhooks/shop", data=body,
                                         headers=signed_headers(body))
            assert response.status == 202
        await hub.drain()
        async with hub.sessionmaker() as session:
            ret = (await session.execute(select(Return))).scalar_one()

        async with hub.sessionmaker() as applying, applying.begin():
            # A batch applying another system's event to the return: the return locked
            # (as the batch's load does)...
            await ReturnsBatch(hub.codec).load(applying, {ret.id}, set())

            async def erase() -> int:
                async with hub.sessionmaker() as session, session.begin():
                    person = await session.get(Customer, ret.customer_id)
                    return await erase_customer(session, hub, person)

            erasing = asyncio.create_task(erase())

            async def erasure_waits() -> bool:
                assert not erasing.done(), erasing  # it must wait for the batch
                async with hub.sessionmaker() as session:
                    return (await session.execute(_WAITING_ON_A_LOCK)).scalar_one() > 0

            await wait_for(erasure_waits)
            # ...then its customer written, as the batch's save does: the erasure must not
            # hold the customer while it waits for the return.
            async with asyncio.timeout(10):
                await applying.execute(update(Customer).where(Customer.id == ret.customer_id)
                                       .values(updated_at=utcnow()))

        assert await erasing == 1
        async with hub.sessionmaker() as session:
            erased = (await session.execute(select(func.count()).select_from(Customer).where(
                Customer.identity == f"erased:{ret.customer_id}"))).scalar_one()
        assert erased == 1
