"""The sources inside a running hub: signed deliveries through the real ingress, enrichment by
the worker against the fake Shopify Admin API, carrier scans matched by tracking number, and
the privacy webhooks' 401 and erasure."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from hub.runtime import Hub
from hub.store.models import Customer, Return
from hub.testing.fake_shopify import DEFAULT_SHOP, DEFAULT_TOKEN, FakeShopifyAdmin, return_node
from hub.testing.signing import body_bytes, easypost_signature, shopify_webhook
from hub.web.app import create_app
from tests.conftest import make_settings

from .conftest import load_fixture

SECRET = "shpss_hub_test_secret"
EASYPOST_SECRET = "easypost-hub-secret"
SHIPPO_TOKEN = "tok_hub_test_0123456789"
RETURN_GID = "gid://shopify/Return/9994378"


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[tuple[Hub, TestClient, FakeShopifyAdmin]]:
    """A hub with a Shopify store (enriched from the fake Admin API) and two carriers."""
    async with FakeShopifyAdmin() as shopify:
        settings = make_settings(tmp_path, sources={
            "store": {"type": "shopify", "shop_domain": DEFAULT_SHOP, "api_secret": SECRET,
                      "access_token": DEFAULT_TOKEN, "admin_url": shopify.url},
            "easypost": {"type": "easypost", "webhook_secret": EASYPOST_SECRET},
            "shippo": {"type": "shippo", "url_token": SHIPPO_TOKEN},
        })
        hub = Hub.build(settings)
        await hub.start(workers=False)
        hub.build_workers()
        await hub.dispatcher.start()
        try:
            async with TestClient(TestServer(create_app(hub))) as client:
                yield hub, client, shopify
        finally:
            await hub.stop()


async def post_shopify(client: TestClient, topic: str, payload, *, secret: str = SECRET,
                       webhook_id: str | None = None):
    request = shopify_webhook(topic, payload, secret=secret, shop_domain=DEFAULT_SHOP,
                              webhook_id=webhook_id)
    return await client.post("/webhooks/store", data=request.body, headers=dict(request.headers))


async def the_return(hub: Hub) -> Return:
    async with hub.sessionmaker() as session:
        return (await session.execute(select(Return).where(
            Return.external_id == RETURN_GID))).scalar_one()


async def test_a_shopify_return_from_request_to_refund(running) -> None:
    hub, client, shopify = running
    shopify.add_return(return_node(9994378, rfo_number=9994878))

    response = await post_shopify(client, "returns/request",
                                  load_fixture("shopify/returns_request.json"))
    assert response.status == 202
    await hub.drain()
    ret = await the_return(hub)
    assert (ret.state, ret.order_number, ret.reason) == ("requested", "#1001", "size_too_small")
    assert ret.customer_id is not None  # from enrichment: the webhook names no customer

    for topic, fixture in [
        ("returns/approve", "shopify/returns_approve.json"),
        ("reverse_deliveries/attach_deliverable",
         "shopify/reverse_deliveries_attach_deliverable.json"),
    ]:
        assert (await post_shopify(client, topic, load_fixture(fixture))).status == 202
        await hub.drain()
    ret = await the_return(hub)
    assert (ret.state, ret.tracking_number) == ("label_created", "9434650899561234567890")

    scan = load_fixture("easypost/tracker_updated.json")
    body = body_bytes(scan)
    response = await client.post("/webhooks/easypost", data=body, headers={
        "Content-Type": "application/json",
        "X-Hmac-Signature": easypost_signature(EASYPOST_SECRET, body)})
    assert response.status == 202
    await hub.drain()
    assert (await the_return(hub)).state == "in_transit"  # matched by tracking number

    for topic, fixture in [
        ("reverse_fulfillment_orders/dispose", "shopify/reverse_fulfillment_orders_dispose.json"),
        ("refunds/create", "shopify/refunds_create.json"),
    ]:
        assert (await post_shopify(client, topic, load_fixture(fixture))).status == 202
        await hub.drain()
    ret = await the_return(hub)
    assert ret.state == "refunded"
    assert str(ret.refund_amount).startswith("31.32")


async def test_duplicate_deliveries_are_applied_once(running) -> None:
    hub, client, shopify = running
    shopify.add_return(return_node(9994378))
    payload = load_fixture("shopify/returns_request.json")
    for _ in range(2):
        response = await post_shopify(client, "returns/request", payload, webhook_id="wh-same")
        assert response.status in (200, 202)
    await hub.drain()
    async with hub.sessionmaker() as session:
        assert len((await session.execute(select(Return))).scalars().all()) == 1


async def test_privacy_webhooks_answer_401_on_a_bad_hmac(running) -> None:
    _hub, client, _shopify = running
    for topic in ("customers/redact", "customers/data_request", "shop/redact"):
        fixture = {"customers/redact": "shopify/customers_redact.json",
                   "customers/data_request": "shopify/customers_data_request.json",
                   "shop/redact": "shopify/shop_redact.json"}[topic]
        response = await post_shopify(client, topic, load_fixture(fixture), secret="forged")
        assert response.status == 401


async def test_customer_redact_erases_the_enriched_customer(running) -> None:
    hub, client, shopify = running
    shopify.add_return(return_node(9994378, customer_number=191167))
    await post_shopify(client, "returns/request", load_fixture("shopify/returns_request.json"))
    await hub.drain()
    response = await post_shopify(client, "customers/redact",
                                  load_fixture("shopify/customers_redact.json"))
    assert response.status == 202
    await hub.drain()
    async with hub.sessionmaker() as session:
        customer = (await session.execute(select(Customer))).scalar_one()
    assert customer.email_enc is None
    assert customer.identity.startswith("erased:")


@pytest.mark.parametrize(("body", "headers", "status"), [
    (b"<html>", {}, 400),
    (b'{"id": 1}', {"X-Shopify-Topic": ""}, 422),
])
async def test_bad_bodies_get_4xx_never_5xx(running, body, headers, status) -> None:
    _hub, client, _shopify = running
    request = shopify_webhook("returns/close", body, secret=SECRET, shop_domain=DEFAULT_SHOP)
    response = await client.post("/webhooks/store", data=request.body,
                                 headers={**dict(request.headers), **headers})
    assert response.status == status


async def test_shippo_url_token_arrives_through_the_query(running) -> None:
    _hub, client, _shopify = running
    body = body_bytes(load_fixture("shippo/track_updated.json"))
    ok = await client.post(f"/webhooks/shippo?token={SHIPPO_TOKEN}", data=body,
                           headers={"Content-Type": "application/json"})
    assert ok.status == 202
    refused = await client.post("/webhooks/shippo?token=guess", data=body,
                                headers={"Content-Type": "application/json"})
    assert refused.status == 401
