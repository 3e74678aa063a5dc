"""One return described by three systems, as they really write (found from outside,
docs/reliability.md, "fourth round"): a Shopify store (its Admin API the fake), an ERP by
signed webhook (its ``origin`` holds the order number) and EasyPost scanning the parcel. What
the customer receives is counted per stage and channel, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from hub.runtime import Hub
from hub.store.models import InboxEvent, Notification, Return, TimelineEntry
from hub.testing.fake_shopify import DEFAULT_SHOP, DEFAULT_TOKEN, FakeShopifyAdmin, return_node
from hub.testing.signing import body_bytes, easypost_signature, erp_signature, shopify_webhook
from hub.web.app import create_app
from tests.conftest import make_settings, started_hub

SHOPIFY_SECRET = "shpss_systems_test"
ERP_SECRET = "erp-systems-secret"
EASYPOST_SECRET = "easypost-systems-secret"
RETURN = 7001
GID = f"gid://shopify/Return/{RETURN}"
#: As USPS prints it on the label (and a merchant types it into Shopify), and as EasyPost
#: sends it.
PRINTED = "9434 6508 9956 1234 5670 02"
COMPACT = "9434650899561234567002"
CROSS_SOURCE = {"match": ["order_number", "tracking_number"]}


def at(hours_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Systems:
    """A hub with the three systems' sources; each method posts one signed delivery."""

    hub: Hub
    client: TestClient

    async def _post(self, path: str, body: bytes, headers: dict[str, str]) -> None:
        response = await self.client.post(path, data=body, headers=headers)
        assert response.status == 202, await response.text()

    async def shopify(self, topic: str, payload: dict[str, Any], hours_ago: float) -> None:
        request = shopify_webhook(topic, payload, secret=SHOPIFY_SECRET, shop_domain=DEFAULT_SHOP,
                                  triggered_at=at(hours_ago))
        await self._post("/webhooks/store", request.body, dict(request.headers))

    async def erp(self, state: str, hours_ago: float, **fields: str) -> None:
        body = body_bytes({"rma": "RMA-7", "state": state, "email": "jane.doe@example.com",
                           "updated_at": at(hours_ago), **fields})
        await self._post("/webhooks/erp", body, {"Content-Type": "application/json",
                                                 "X-Signature": erp_signature(ERP_SECRET, body)})

    async def easypost(self, status: str, number: str, hours_ago: float) -> None:
        body = body_bytes({
            "id": f"evt_{status}_{hours_ago}", "object": "Event", "mode": "production",
            "description": "tracker.updated", "result": {
                "id": "trk_1", "object": "Tracker", "tracking_code": number, "carrier": "USPS",
                "status": status, "tracking_details": [
                    {"datetime": at(hours_ago), "status": status, "message": status}]}})
        await self._post("/webhooks/easypost", body, {
            "Content-Type": "application/json",
            "X-Hmac-Signature": easypost_signature(EASYPOST_SECRET, body)})

    async def returns(self) -> list[Return]:
        async with self.hub.sessionmaker() as session:
            return list((await session.execute(select(Return))).scalars())

    async def sent(self) -> Counter:
        """Messages per (stage, channel) that went out."""
        async with self.hub.sessionmaker() as session:
            return Counter((await session.execute(select(
                Notification.stage, Notification.channel).where(
                Notification.status == "sent"))).all())

    async def inbox(self) -> Counter:
        async with self.hub.sessionmaker() as session:
            return Counter((await session.execute(select(InboxEvent.status))).scalars())


@pytest.fixture
async def systems(tmp_path: Path, db_url: str) -> AsyncIterator[Systems]:
    async with FakeShopifyAdmin() as fake:
        fake.add_return(return_node(RETURN, status="OPEN", order_number=1001,
                                    tracking={"carrier": "USPS", "number": PRINTED}))
        settings = make_settings(tmp_path, db_url, sources={
            "store": {"type": "shopify", "shop_domain": DEFAULT_SHOP,
                      "api_secret": SHOPIFY_SECRET, "access_token": DEFAULT_TOKEN,
                      "admin_url": fake.url, **CROSS_SOURCE},
            "erp": {"type": "erp", "webhook_secret": ERP_SECRET,
                    "mapping": {"return_id": "rma", "status": "state", "order_number": "origin",
                                "tracking_number": "tracking", "customer_email": "email"},
                    "status_map": {"received": "return.received",
                                   "refunded": "return.refunded"},
                    "references": {"order_number": "order_number", "rma": "return_id",
                                   "tracking_number": "tracking.number"}, **CROSS_SOURCE},
            "easypost": {"type": "easypost", "webhook_secret": EASYPOST_SECRET},
        }, notifications={"stages": {
            "approved": {"channels": ["email"]},
            "label_created": {"channels": ["email"]},
            "in_transit": {"channels": ["email"]},
            "received": {"channels": ["email"]},
            "refunded": {"channels": ["email", "sms"]},
            "closed": {"channels": ["email"]},
            "cancelled": {"channels": ["email"]},
            "shipment_exception": {"channels": ["email"]},
        }})
        async with started_hub(settings) as hub:
            async with TestClient(TestServer(create_app(hub))) as client:
                yield Systems(hub, client)


def shopify_return(status: str = "open") -> dict[str, Any]:
    return {"id": RETURN, "admin_graphql_api_id": GID, "status": status, "name": "#1001-R1",
            "order": {"id": 100100, "admin_graphql_api_id": "gid://shopify/Order/100100"},
            "return_line_items": []}


def attach_label(number: str) -> dict[str, Any]:
    return {"id": 55, "admin_graphql_api_id": "gid://shopify/ReverseDelivery/55",
            "return": {"id": RETURN, "admin_graphql_api_id": GID},
            "shipping_deliverable": {
                "tracking": {"carrier_name": "USPS", "tracking_number": number,
                             "tracking_url": None},
                "label": {"public_file_url": "https://labels.example/55.pdf",
                          "created_at": at(5)}}}


def thin(topic_status: str) -> dict[str, Any]:
    """A close, cancel or reopen payload: Shopify sends only the ids and the status."""
    return {"id": RETURN, "admin_graphql_api_id": GID, "order_id": 100100,
            "status": topic_status}


@pytest.mark.parametrize("scan_first", [True, False], ids=["scan-first", "label-first"])
async def test_a_tracking_number_printed_in_groups_finds_the_carriers_scans(systems,
                                                                            scan_first):
    """Seen: the label said ``9434 6508 ...``, EasyPost ``94346508...``: the scans waited
    parked for good, and the customer never heard the parcel was on its way."""
    if scan_first:
        await systems.easypost("in_transit", COMPACT, 3)
        await systems.hub.drain()
    await systems.shopify("returns/approve", shopify_return(), 6)
    await systems.shopify("reverse_deliveries/attach_deliverable", attach_label(PRINTED), 5)
    await systems.hub.drain()
    if not scan_first:
        await systems.easypost("in_transit", COMPACT, 3)
    await systems.hub.drain()
    [ret] = await systems.returns()
    assert ret.state == "in_transit"
    assert await systems.inbox() == Counter({"done": 3})
    assert (await systems.sent())[("in_transit", "email")] == 1


async def test_an_order_number_without_its_hash_joins_the_stores_return(systems):
    """Seen: Shopify names the order ``#1001``, the ERP kept ``1001``: a second return, and
    the customer was told "we received your return RMA-7" about a return they never made."""
    await systems.shopify("returns/approve", shopify_return(), 6)
    await systems.hub.drain()
    await systems.erp("received", 2, origin="1001")
    await systems.erp("refunded", 1, origin=" 1001 ")
    await systems.hub.drain()
    [ret] = await systems.returns()
    assert ret.state == "refunded"
    assert await systems.sent() == Counter({("approved", "email"): 1, ("received", "email"): 1,
                                            ("refunded", "email"): 1, ("refunded", "sms"): 1})


async def test_a_cancelled_returns_parcel_still_scanned_tells_the_customer_nothing(systems):
    """Seen: cancelled in Shopify, then EasyPost's ``return_to_sender`` emailed "a problem
    with your return parcel" about a return the customer had cancelled."""
    await systems.shopify("returns/approve", shopify_return(), 6)
    await systems.shopify("reverse_deliveries/attach_deliverable", attach_label(COMPACT), 5)
    await systems.hub.drain()
    await systems.shopify("returns/cancel", thin("canceled"), 4)
    await systems.hub.drain()
    await systems.easypost("in_transit", COMPACT, 3)
    await systems.easypost("return_to_sender", COMPACT, 2)
    await systems.hub.drain()
    [ret] = await systems.returns()
    assert ret.state == "cancelled"
    assert await systems.sent() == Counter({("approved", "email"): 1,
                                            ("label_created", "email"): 1,
                                            ("cancelled", "email"): 1})
    assert await systems.inbox() == Counter({"done": 5})


async def test_a_carrier_repeating_its_exception_is_told_once_and_timed_truly(systems):
    """Seen: each repeated exception scan put "planned" on the timeline for a message the
    outbox had dropped as already planned (its notification id named no row)."""
    await systems.shopify("returns/approve", shopify_return(), 6)
    await systems.shopify("reverse_deliveries/attach_deliverable", attach_label(COMPACT), 5)
    for status, hours_ago in (("return_to_sender", 3), ("failure", 2), ("return_to_sender", 1)):
        await systems.easypost(status, COMPACT, hours_ago)
        await systems.hub.drain()
    assert (await systems.sent())[("shipment_exception", "email")] == 1
    async with systems.hub.sessionmaker() as session:
        planned = set((await session.execute(select(TimelineEntry.notification_id).where(
            TimelineEntry.outcome == "planned"))).scalars())
        stored = set((await session.execute(select(Notification.id))).scalars())
    assert planned <= stored


async def test_the_erps_refund_from_before_a_reopen_is_not_told_again(systems):
    """Seen: refunded and closed in Shopify, then reopened; the ERP's record of that same
    refund (made before the reopen) arrived after it, and the customer got "your refund is on
    its way" a second time, by email and text."""
    await systems.shopify("returns/approve", shopify_return(), 6)
    await systems.shopify("refunds/create", {
        "id": 98, "admin_graphql_api_id": "gid://shopify/Refund/98", "order_id": 100100,
        "created_at": at(5), "processed_at": at(5), "note": None, "restock": True,
        "refund_line_items": [], "transactions": [],
        "return": {"id": RETURN, "admin_graphql_api_id": GID}}, 5)
    await systems.shopify("returns/close", thin("closed"), 4)
    await systems.hub.drain()
    await systems.shopify("returns/reopen", thin("open"), 3)
    await systems.hub.drain()
    await systems.erp("refunded", 4.5, origin="#1001")
    await systems.hub.drain()
    [ret] = await systems.returns()
    assert (ret.state, ret.cycle) == ("approved", 1)
    sent = await systems.sent()
    assert (sent[("refunded", "email")], sent[("refunded", "sms")]) == (1, 1)
    assert sent[("approved", "email")] == 2  # the reopen approves again: a new cycle
    # A refund of the new cycle is news again.
    await systems.erp("refunded", 1, origin="#1001")
    await systems.hub.drain()
    assert (await systems.sent())[("refunded", "email")] == 2


async def test_the_return_keeps_the_name_the_customer_was_first_told(systems):
    """Seen: approved as "#1001-R1" by Shopify; the ERP's newer record renamed it "RMA-7",
    and the next emails named a return the customer had never heard of."""
    await systems.shopify("returns/approve", shopify_return(), 6)
    await systems.hub.drain()
    await systems.erp("received", 2, origin="#1001")
    await systems.hub.drain()
    [ret] = await systems.returns()
    assert ret.customer_reference == "#1001-R1"
    subjects = [line for path in Path(systems.hub.sinks["outbox"].directory).glob("*.eml")
                for line in path.read_text().splitlines() if line.startswith("Subject:")]
    assert len(subjects) == 2  # approved, received
    assert all("#1001-R1" in line for line in subjects), subjects
