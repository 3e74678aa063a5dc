"""A Shopify store connected late: its return history, read through the Admin API (orders by
last change, their returns), is skipped by default or backfilled onto the timeline without
messages; the next new return notifies. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from hub.runtime import Hub
from hub.store.models import Notification, Return, SourceCursor, TimelineEntry
from hub.testing.fake_shopify import DEFAULT_SHOP, DEFAULT_TOKEN, FakeShopifyAdmin, return_node
from tests.conftest import make_settings, wait_for

STAGES = {stage: {"channels": ["email"]} for stage in ("requested", "approved", "closed")}


def _node(number: int, status: str, days_ago: float) -> dict[str, Any]:
    node = return_node(number, status=status, order_number=number,
                       email=f"r{number}@example.com", phone=None)
    changed = datetime.now(UTC) - timedelta(days=days_ago)
    node["order"]["updatedAt"] = changed.strftime("%Y-%m-%dT%H:%M:%SZ")
    return node


async def _count(hub: Hub, model: Any, *where: Any) -> int:
    async with hub.sessionmaker() as session:
        return (await session.execute(
            select(func.count()).select_from(model).where(*where))).scalar_one()


async def _polled(hub: Hub) -> bool:
    async with hub.sessionmaker() as session:
        row = (await session.execute(select(SourceCursor))).scalar_one_or_none()
        return row is not None and row.cursor is not None


@pytest.mark.parametrize("start", ["now", "backfill"])
async def test_a_store_connected_late_sends_nothing_for_its_history(tmp_path, db_url, start):
    async with FakeShopifyAdmin() as shopify:
        shopify.add_return(_node(2001, "CLOSED", days_ago=400))
        shopify.add_return(_node(2002, "OPEN", days_ago=30))
        shopify.add_return(_node(2003, "CANCELED", days_ago=2))
        settings = make_settings(tmp_path, db_url, notifications={"stages": STAGES}, sources={
            "store": {"type": "shopify", "shop_domain": DEFAULT_SHOP, "api_secret": "s",
                      "access_token": DEFAULT_TOKEN, "admin_url": shopify.url,
                      "poll_interval_seconds": 0.1, "start": start,
                      "backfill_max_age_days": 365}})
        hub = Hub.build(settings)
        await hub.start()
        try:
            await wait_for(lambda: _polled(hub), timeout=30)
            await hub.drain()
            if start == "backfill":  # an event put back for identity (same batch) comes later
                async def both_withheld() -> bool:
                    return await _count(hub, TimelineEntry,
                                        TimelineEntry.outcome == "withheld") >= 2
                await wait_for(both_withheld, timeout=30)
                await hub.drain()
            async with hub.sessionmaker() as session:
                states = {r.external_id: r.state
                          for r in (await session.execute(select(Return))).scalars()}
            if start == "now":
                assert states == {}
            else:  # a year of history on the timeline; the 400-day-old return left out
                assert states == {"gid://shopify/Return/2002": "approved",
                                  "gid://shopify/Return/2003": "cancelled"}
                assert await _count(hub, TimelineEntry, TimelineEntry.outcome == "withheld") == 2
            assert await _count(hub, Notification) == 0

            shopify.add_return(_node(2004, "REQUESTED", days_ago=-1 / 1440))  # a new return
            await wait_for(lambda: _count(hub, Notification), timeout=30)
            async with hub.sessionmaker() as session:
                [sent] = (await session.execute(select(Notification))).scalars()
                ret = await session.get(Return, sent.return_id)
            assert (ret.external_id, sent.stage) == ("gid://shopify/Return/2004", "requested")
            assert ret.customer_reference == "#2004-R4"
        finally:
            await hub.stop()
