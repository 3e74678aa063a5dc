"""Each source walks one return through its life from its own payloads, through the hub's real
ingress and workers; the final state and the timeline are checked."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from hub.runtime import Hub
from hub.store.models import Return, TimelineEntry
from hub.web.app import create_app
from tests.conftest import make_settings, signed_headers

from .conftest import load_fixture
from .erp_helpers import odoo_section

CARRIERS = {
    "easypost": ("easypost/tracker_updated.json", "9434650899561234567890",
                 ["pre_transit", "in_transit", "delivered"]),
    "aftership": ("aftership/tracking_update.json", "1Z999AA10123456784",
                  ["InfoReceived", "InTransit", "Delivered"]),
    "shippo": ("shippo/track_updated.json", "9205590164917312751089",
               ["PRE_TRANSIT", "TRANSIT", "DELIVERED"]),
}


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[tuple[Hub, TestClient]]:
    erp = {**odoo_section(), "type": "erp"}
    erp.pop("base_url", None)
    settings = make_settings(tmp_path, sources={
        "shop": {"type": "standard_webhooks",
                 "secret": make_settings(tmp_path).sources["shop"]["secret"]},
        "easypost": {"type": "easypost", "webhook_secret": "ep-life"},
        "aftership": {"type": "aftership", "webhook_secret": "as-life"},
        "shippo": {"type": "shippo", "hmac_secret": "sh-life"},
        "odoo": erp})
    hub = Hub.build(settings)
    await hub.start(workers=False)
    hub.build_workers()
    await hub.dispatcher.start()
    try:
        async with TestClient(TestServer(create_app(hub))) as client:
            yield hub, client
    finally:
        await hub.stop()


def carrier_payload(carrier: str, status: str, step: int) -> dict:
    payload = copy.deepcopy(load_fixture(CARRIERS[carrier][0]))
    if carrier == "easypost":
        payload["id"] = f"evt_life_{step}"
        payload["result"]["status"] = status
        payload["result"]["updated_at"] = f"2025-03-1{step}T10:00:00Z"
        payload["result"]["tracking_details"] = []
    elif carrier == "aftership":
        payload["event_id"] = f"as-life-{step}"
        payload["msg"]["tag"] = status
        payload["msg"]["checkpoints"] = []
        payload["ts"] = 1741773600 + step * 3600
    else:
        payload["data"]["tracking_status"]["status"] = status
        payload["data"]["tracking_status"]["status_date"] = f"2025-03-1{step}T10:00:00Z"
    return payload


async def post_source(hub: Hub, client: TestClient, name: str, payload) -> int:
    body = json.dumps(payload).encode()
    headers = hub.sources[name].sign(body, event_id=f"{name}-{hash(body)}")
    headers.setdefault("Content-Type", "application/json")
    response = await client.post(f"/webhooks/{name}", data=body, headers=headers)
    return response.status


async def story(hub: Hub, reference: str) -> tuple[str, list[tuple[str, str]]]:
    async with hub.sessionmaker() as session:
        ret = (await session.execute(select(Return).where(Return.external_id == reference))
               ).scalar_one()
        entries = (await session.execute(select(TimelineEntry).where(
            TimelineEntry.return_id == ret.id, TimelineEntry.kind == "event")
            .order_by(TimelineEntry.id))).scalars()
        return ret.state, [(e.event_type, e.outcome) for e in entries]


@pytest.mark.parametrize("carrier", sorted(CARRIERS))
async def test_carrier_label_to_delivered(running, carrier):
    hub, client = running
    _, number, statuses = CARRIERS[carrier]
    approved = {"type": "return.approved", "return_id": f"R-{carrier}",
                "customer": {"id": "C-1", "email": "carrier@example.com"},
                "tracking": {"number": number}, "occurred_at": "2025-03-09T09:00:00Z"}
    body = json.dumps(approved).encode()
    assert (await client.post("/webhooks/shop", data=body,
                              headers=signed_headers(body))).status == 202
    await hub.drain()
    for step, status in enumerate(statuses, start=1):
        assert await post_source(hub, client, carrier,
                                 carrier_payload(carrier, status, step)) == 202
        await hub.drain()
    state, timeline = await story(hub, f"R-{carrier}")
    assert state == "delivered_to_warehouse"
    assert timeline == [("return.approved", "moved"), ("return.label_created", "moved"),
                        ("return.in_transit", "moved"),
                        ("return.delivered_to_warehouse", "moved")]


async def test_erp_receipt_inspection_refund(running):
    hub, client = running
    records = {r["state"]: r for r in load_fixture("erp/odoo_rma_page.json")["records"]}
    base = records["received"]
    for step, state in enumerate(["received", "inspected", "refunded"], start=1):
        record = {**records[state], "id": base["id"], "name": base["name"],
                  "partner_id": base["partner_id"],
                  "write_date": f"2025-03-1{step} 08:00:00"}
        assert await post_source(hub, client, "odoo", record) == 202
        await hub.drain()
    state, timeline = await story(hub, base["name"])
    assert state == "refunded"
    assert [t for t, _ in timeline] == ["return.received", "return.inspected",
                                        "return.refunded"]
    assert {o for _, o in timeline} == {"moved"}
