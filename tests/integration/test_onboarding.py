"""Safe onboarding: connecting an ERP with two years of history sends nothing for the history
and notifies the next new change; a backfill puts history on the timeline without messages;
a stale carrier scan is recorded and not notified. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from hub.runtime import Hub
from hub.store.models import InboxEvent, Notification, Return, SourceCursor, TimelineEntry
from hub.testing.factories import event_payload
from hub.testing.fake_erp import FakeErp
from hub.testing.signing import body_bytes, easypost_signature
from hub.web.app import create_app
from tests.conftest import make_settings, signed_headers, wait_for
from tests.sources.conftest import load_fixture
from tests.sources.erp_helpers import API_TOKEN, odoo_section

if TYPE_CHECKING:
    from pathlib import Path

EASYPOST_SECRET = "easypost-onboarding-secret"
HISTORY = 24  # one refunded RMA a month for two years
STAGES = {"received": {"channels": ["email"]}, "refunded": {"channels": ["email", "sms"]},
          "requested": {"channels": ["email"]}, "in_transit": {"channels": ["email"]}}


def _odoo_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def history(now: datetime) -> list[dict[str, Any]]:
    """Two years of refunded RMAs (the Odoo fixture's first record, one a month)."""
    template = load_fixture("erp/odoo_rma_page.json")["records"][0]
    records = []
    for month in range(HISTORY):
        when = now - timedelta(days=730 - 30 * month)
        records.append({**template, "id": 5000 + month, "name": f"RMA/HIST/{month:04d}",
                        "state": "refunded", "write_date": _odoo_time(when),
                        "partner_id": {**template["partner_id"],
                                       "email": f"past{month}@example.com"}})
    return records


async def count(hub: Hub, model: Any, *where: Any) -> int:
    async with hub.sessionmaker() as session:
        return (await session.execute(
            select(func.count()).select_from(model).where(*where))).scalar_one()


async def first_pass_done(hub: Hub) -> bool:
    async with hub.sessionmaker() as session:
        cursor = (await session.execute(select(SourceCursor))).scalar_one_or_none()
        return cursor is not None and cursor.cursor is not None


def erp_settings(tmp_path: Path, db_url: str, url: str, **policy: Any):
    section = {**odoo_section(), "type": "erp", "base_url": url, "poll_interval_seconds": 0.1,
               **policy}
    return make_settings(tmp_path, db_url, sources={"odoo": section},
                         notifications={"stages": STAGES})


async def test_connecting_an_erp_with_two_years_of_history_sends_nothing_then_notifies_news(
        tmp_path, db_url):
    now = datetime.now(UTC)
    async with FakeErp(history(now), cursor_field="write_date", token=API_TOKEN) as erp:
        hub = Hub.build(erp_settings(tmp_path, db_url, erp.url))
        await hub.start()
        try:
            await wait_for(lambda: first_pass_done(hub), timeout=30)
            await hub.drain()
            assert await count(hub, InboxEvent) == 0  # history skipped: start = "now"
            assert await count(hub, Notification) == 0

            # The next change: an RMA from the history is received again today.
            erp.upsert({**history(now)[-1], "state": "received",
                        "write_date": _odoo_time(datetime.now(UTC) + timedelta(seconds=1))})
            await wait_for(lambda: count(hub, Notification), timeout=30)
            async with hub.sessionmaker() as session:
                sent = list((await session.execute(select(Notification))).scalars())
                ret = (await session.execute(select(Return))).scalar_one()
            assert [(n.stage, n.channel) for n in sent] == [("received", "email")]
            assert ret.external_id == "RMA/HIST/0023" and ret.state == "received"
        finally:
            await hub.stop()


async def test_a_backfill_puts_recent_history_on_the_timeline_without_messages(
        tmp_path, db_url):
    now = datetime.now(UTC)
    async with FakeErp(history(now), cursor_field="write_date", token=API_TOKEN) as erp:
        hub = Hub.build(erp_settings(tmp_path, db_url, erp.url, start="backfill",
                                     backfill_max_age_days=365))
        await hub.start()
        try:
            await wait_for(lambda: first_pass_done(hub), timeout=30)
            recent = sum(1 for r in history(now)
                         if r["write_date"] >= _odoo_time(now - timedelta(days=365)))
            await wait_for(lambda: _equals(count(hub, Return), recent), timeout=30)
            await hub.drain()
            assert await count(hub, InboxEvent) == recent  # older than a year: not imported
            assert await count(hub, Notification) == 0
            async with hub.sessionmaker() as session:
                withheld = list((await session.execute(select(TimelineEntry).where(
                    TimelineEntry.outcome == "withheld"))).scalars())
            assert len(withheld) == recent
            assert all("backfill" in entry.detail["reason"] for entry in withheld)

            erp.upsert({**history(now)[0], "id": 9001, "name": "RMA/NEW/0001",
                        "state": "received",
                        "write_date": _odoo_time(datetime.now(UTC) + timedelta(seconds=1))})
            await wait_for(lambda: count(hub, Notification), timeout=30)
            assert await count(hub, Notification) == 1
        finally:
            await hub.stop()


async def test_a_stale_carrier_scan_is_recorded_and_not_notified(tmp_path, db_url):
    """EasyPost replays a tracker update from March 2025 (in_transit is stale after 2 days)
    for a return opened today: the return moves, nobody is told, the timeline says why."""
    sources = {"easypost": {"type": "easypost", "webhook_secret": EASYPOST_SECRET}}
    hub = Hub.build(make_settings(tmp_path, db_url, notifications={"stages": STAGES},
                                  sources=sources))
    await hub.start(workers=False)
    hub.build_workers()
    try:
        scan = load_fixture("easypost/tracker_updated.json")
        number = scan["result"]["tracking_code"]
        opened = event_payload("return.requested", "R-STALE",
                               occurred_at=datetime.now(UTC).isoformat(),
                               tracking={"number": number, "carrier": "USPS"})
        async with TestClient(TestServer(create_app(hub))) as client:
            raw = body_bytes(opened)
            response = await client.post("/webhooks/shop", data=raw, headers=signed_headers(raw))
            assert response.status == 202
            await hub.processor.drain()
            raw = body_bytes(scan)
            response = await client.post("/webhooks/easypost", data=raw, headers={
                "Content-Type": "application/json",
                "X-Hmac-Signature": easypost_signature(EASYPOST_SECRET, raw)})
            assert response.status == 202
            await hub.processor.drain()
        async with hub.sessionmaker() as session:
            ret = (await session.execute(select(Return))).scalar_one()
            stages = [n.stage for n in (await session.execute(select(Notification))).scalars()]
            entries = list((await session.execute(select(TimelineEntry).where(
                TimelineEntry.return_id == ret.id).order_by(TimelineEntry.id))).scalars())
        assert ret.state == "in_transit"  # recorded: the return moved
        assert stages == ["requested"]  # the scan notified nobody
        withheld = [e for e in entries if e.outcome == "withheld"]
        assert len(withheld) == 1 and withheld[0].detail["stage"] == "in_transit"
        assert withheld[0].detail["reason"].startswith("stale: occurred ")
        assert "(in_transit messages are not sent after 2 days)" in withheld[0].detail["reason"]
    finally:
        await hub.stop()


async def _equals(value, expected) -> bool:
    return (await value) == expected


async def test_the_first_pass_is_history_even_when_records_carry_no_time(tmp_path, db_url):
    """A change sequence is no time: the records' occurred_at is when they were read, after
    the source was connected. The first pass is history all the same."""
    now = datetime.now(UTC)
    records = [{**record, "seq": f"{n:06d}"} for n, record in enumerate(history(now))]
    async with FakeErp(records, cursor_field="seq", cursor_param="after",
                       token=API_TOKEN) as erp:
        hub = Hub.build(erp_settings(tmp_path, db_url, erp.url, cursor_path="seq",
                                     cursor_param="after", query={}))
        await hub.start()
        try:
            await wait_for(lambda: first_pass_done(hub), timeout=30)
            await hub.drain()
            assert await count(hub, InboxEvent) == 0
            erp.upsert({**records[3], "state": "received", "seq": "999999"})
            await wait_for(lambda: count(hub, Notification), timeout=30)
            assert await count(hub, InboxEvent) == 1
        finally:
            await hub.stop()
