"""A Shopify customer reads the return's Shopify name (#1001-R78), never its GID, in every
message of every stage the Shopify source produces: email subject, HTML and text, SMS, portal
notice, the portal page and the team's email; approval emails state the refund estimate from
the enrichment."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from hub.events import EventType, ReturnEvent
from hub.portal_links import make_token
from hub.runtime import Hub
from hub.store.models import Notification, PortalMessage, Return
from hub.testing.fake_shopify import DEFAULT_SHOP, DEFAULT_TOKEN, FakeShopifyAdmin, return_node
from hub.testing.signing import shopify_webhook
from hub.web.app import create_app
from returnhub_shopify.delivery import Delivery
from returnhub_shopify.enrichment import enrich_event
from returnhub_shopify.topics import RETURN_TOPICS
from tests.conftest import make_settings

from .conftest import load_fixture

if TYPE_CHECKING:
    from pathlib import Path

SECRET = "shpss_reference_test_secret"
EVERY_CHANNEL = {"channels": ["email", "sms", "portal"]}
#: Every stage a Shopify store's webhooks can reach.
SHOPIFY_STAGES = ("requested", "approved", "declined", "label_created", "inspected",
                  "restocked", "refunded", "closed", "cancelled")


def _with_id(payload: dict, number: int) -> dict:
    """A return webhook payload about return ``number``."""
    return {**payload, "id": number, "admin_graphql_api_id": f"gid://shopify/Return/{number}"}


async def _post(client: TestClient, topic: str, payload: dict) -> None:
    request = shopify_webhook(topic, payload, secret=SECRET, shop_domain=DEFAULT_SHOP)
    response = await client.post("/webhooks/store", data=request.body,
                                  headers=dict(request.headers))
    assert response.status == 202, await response.text()


def _received(outbox: Path) -> list[tuple[str, str]]:
    """(channel, every text the customer sees) for each file the outbox sink wrote."""
    found = []
    for path in sorted(outbox.iterdir()):
        if path.suffix == ".eml":
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            parts = [message["Subject"]] + [part.get_content() for part in message.walk()
                                            if part.get_content_type().startswith("text/")]
            found.append(("email", "\n".join(parts)))
        else:
            data = orjson.loads(path.read_bytes())
            found.append(("sms", data.get("text") or data.get("body") or ""))
    return found


@pytest.fixture
async def store(tmp_path: Path, db_url: str):
    async with FakeShopifyAdmin() as shopify:
        settings = make_settings(
            tmp_path, db_url,
            sources={"store": {"type": "shopify", "shop_domain": DEFAULT_SHOP,
                               "api_secret": SECRET, "access_token": DEFAULT_TOKEN,
                               "admin_url": shopify.url}},
            sinks={"outbox": {"type": "file", "directory": str(tmp_path / "outbox")},
                   "notices": {"type": "portal"}},
            channels={"email": {"providers": ["outbox"]}, "sms": {"providers": ["outbox"]},
                      "portal": {"providers": ["notices"]}},
            notifications={"stages": dict.fromkeys(SHOPIFY_STAGES, EVERY_CHANNEL)},
            rules=[{"name": "tell-the-team", "when": 'stage == "requested"',
                    "actions": [{"do": "notify_team", "email": "team@example.com"}]}])
        hub = Hub.build(settings)
        await hub.start(workers=False)
        hub.build_workers()
        await hub.dispatcher.start()
        try:
            async with TestClient(TestServer(create_app(hub))) as client:
                yield hub, client, shopify, tmp_path / "outbox"
        finally:
            await hub.stop()


async def test_every_message_names_the_return_by_its_shopify_name(store) -> None:
    hub, client, shopify, outbox = store
    request = load_fixture("shopify/returns_request.json")
    journeys = {
        9994378: [("returns/request", request),
                  ("returns/approve", load_fixture("shopify/returns_approve.json")),
                  ("reverse_deliveries/attach_deliverable",
                   load_fixture("shopify/reverse_deliveries_attach_deliverable.json")),
                  ("reverse_fulfillment_orders/dispose",
                   load_fixture("shopify/reverse_fulfillment_orders_dispose.json")),
                  ("refunds/create", load_fixture("shopify/refunds_create.json")),
                  ("returns/close", load_fixture("shopify/returns_close.json"))],
        9994379: [("returns/request", _with_id(request, 9994379)),
                  ("returns/decline",
                   _with_id(load_fixture("shopify/returns_decline.json"), 9994379))],
        9994380: [("returns/request", _with_id(request, 9994380)),
                  ("returns/cancel", _with_id(load_fixture("shopify/returns_close.json"),
                                              9994380))],
    }
    for number in journeys:
        shopify.add_return(return_node(number, rfo_number=9994878 if number == 9994378
                                       else None, email=f"r{number}@example.com",
                                       phone=f"+1415555{number % 10000:04d}"))
    for steps in journeys.values():
        for topic, payload in steps:
            await _post(client, topic, payload)
            await hub.drain()

    async with hub.sessionmaker() as session:
        returns = {r.external_id: r for r in (await session.execute(select(Return))).scalars()}
        notices = list((await session.execute(select(PortalMessage))).scalars())
        stages = {n.stage for n in (await session.execute(select(Notification))).scalars()}
    names = {gid: r.customer_reference for gid, r in returns.items()}
    assert names == {f"gid://shopify/Return/{n}": f"#1001-R{n % 100}" for n in journeys}
    assert returns["gid://shopify/Return/9994378"].state == "closed"
    assert stages == {*SHOPIFY_STAGES, "team_review"} - {"inspected"}  # dispose: restocked

    received = _received(outbox)
    received += [("portal", hub.cipher.decrypt(n.body_enc)) for n in notices]
    assert {channel for channel, _ in received} == {"email", "sms", "portal"}
    for channel, text in received:
        assert "gid://" not in text, (channel, text)
        assert any(name in text for name in names.values()), (channel, text)
    token = make_token(hub.portal_key, "store", "gid://shopify/Return/9994378",
                       datetime.now(UTC) + timedelta(days=1))
    page = await client.get(f"/portal/r/{token}")
    received.append(("portal page", await page.text()))
    assert page.status == 200 and "Return #1001-R78" in received[-1][1]
    assert "gid://" not in received[-1][1]
    approvals = [text for channel, text in received
                 if channel == "email" and text.startswith("Your return #1001-R78 is approved")]
    assert len(approvals) == 1
    assert "we will refund $29.00" in approvals[0]  # the estimate (the one line's price)


def test_the_webhook_names_the_return_and_the_enrichment_falls_back_to_the_order():
    delivery = Delivery(source="store", topic="returns/request", webhook_id="w1",
                        occurred_at=datetime.now(UTC), raw={})
    [requested] = RETURN_TOPICS["returns/request"](load_fixture("shopify/returns_request.json"),
                                                   delivery)
    assert requested.customer_reference == "#1001-R1"
    refund = ReturnEvent(type=EventType.REFUNDED, return_id="gid://shopify/Return/1")
    node = {k: v for k, v in return_node(1).items() if k != "name"}
    assert enrich_event(refund, node).customer_reference == "#1001"  # the order's name
    assert enrich_event(refund, node).refund_amount is None  # no estimate after approval
    approved = refund.model_copy(update={"type": EventType.APPROVED})
    assert str(enrich_event(approved, node).refund_amount.amount) == "29.00"
