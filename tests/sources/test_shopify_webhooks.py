"""Shopify source: signature checks, topic mapping and rejections (no I/O)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.contract.testing.source import SourceContract, encode, mutated
from hub.errors import RequestRejected, SignatureError
from hub.events import EventType, Money
from hub.testing.fake_shopify import DEFAULT_SHOP, ShopifyWebhookFactory
from hub.testing.signing import inbound_request, shopify_hmac, shopify_webhook
from returnhub_shopify.config import ShopifySettings
from returnhub_shopify.source import TOPICS, ShopifySource

from .conftest import FIXTURES, load_fixture

SECRET = "shpss_current_secret"
PREVIOUS = "shpss_previous_secret"
RETURN_GID = "gid://shopify/Return/9994378"
ORDER_GID = "gid://shopify/Order/450789469"

#: Each topic with a fixture, for the property test.
TOPIC_FIXTURES = {
    "returns/request": "shopify/returns_request.json",
    "returns/approve": "shopify/returns_approve.json",
    "returns/decline": "shopify/returns_decline.json",
    "returns/close": "shopify/returns_close.json",
    "reverse_deliveries/attach_deliverable": "shopify/reverse_deliveries_attach_deliverable.json",
    "reverse_fulfillment_orders/dispose": "shopify/reverse_fulfillment_orders_dispose.json",
    "refunds/create": "shopify/refunds_create.json",
    "customers/redact": "shopify/customers_redact.json",
    "customers/data_request": "shopify/customers_data_request.json",
    "shop/redact": "shopify/shop_redact.json",
}


def make_source(make_context, **settings) -> ShopifySource:
    options = {"shop_domain": DEFAULT_SHOP, "api_secret": SECRET, **settings}
    return ShopifySource(ShopifySettings(**options), make_context("shop"))


@pytest.fixture
def source(make_context) -> ShopifySource:
    return make_source(make_context)


@pytest.fixture
def webhooks() -> ShopifyWebhookFactory:
    return ShopifyWebhookFactory(secret=SECRET)


async def parse_one(source, request):
    await source.verify(request)
    events = await source.parse(request)
    assert len(events) == 1
    return events[0]


class TestShopifyContract(SourceContract):
    instance_name = "shop"
    fuzz_headers = ("X-Shopify-Topic", "X-Shopify-Webhook-Id", "X-Shopify-Triggered-At",
                    "X-Shopify-Shop-Domain", "X-Shopify-Hmac-Sha256")

    def make_source(self, context):
        return ShopifySource(ShopifySettings(shop_domain=DEFAULT_SHOP, api_secret=SECRET), context)

    def valid_payload(self):
        return load_fixture("shopify/returns_request.json")

    def signed(self, body):
        return shopify_webhook("returns/request", body, secret=SECRET, shop_domain=DEFAULT_SHOP)


# -- signatures --------------------------------------------------------------------------------

class TestSignature:
    async def test_known_answer_vector(self, make_context):
        vector = load_fixture("shopify/hmac_vectors.json")
        body = vector["raw_body"].encode()
        assert shopify_hmac(vector["client_secret"], body) == vector["expected_hmac"]
        source = make_source(make_context, api_secret=vector["client_secret"],
                             shop_domain=vector["headers"]["X-Shopify-Shop-Domain"])
        headers = {**vector["headers"], "X-Shopify-Hmac-Sha256": vector["expected_hmac"]}
        await source.verify(inbound_request(body, headers))

    async def test_known_answer_vector_fake_hmac_is_refused(self, make_context):
        vector = load_fixture("shopify/hmac_vectors.json")
        source = make_source(make_context, api_secret=vector["client_secret"],
                             shop_domain=vector["headers"]["X-Shopify-Shop-Domain"])
        headers = {**vector["headers"], "X-Shopify-Hmac-Sha256": "fake"}
        with pytest.raises(SignatureError):
            await source.verify(inbound_request(vector["raw_body"].encode(), headers))

    async def test_previous_secret_is_accepted_during_rotation(self, make_context):
        source = make_source(make_context, previous_api_secret=PREVIOUS)
        request = shopify_webhook("returns/close", load_fixture("shopify/returns_close.json"),
                                  secret=PREVIOUS, shop_domain=DEFAULT_SHOP)
        await source.verify(request)

    async def test_previous_secret_is_refused_once_removed(self, source):
        request = shopify_webhook("returns/close", load_fixture("shopify/returns_close.json"),
                                  secret=PREVIOUS, shop_domain=DEFAULT_SHOP)
        with pytest.raises(SignatureError):
            await source.verify(request)

    async def test_unknown_secret_is_refused_with_rotation_configured(self, make_context):
        source = make_source(make_context, previous_api_secret=PREVIOUS)
        request = shopify_webhook("returns/close", load_fixture("shopify/returns_close.json"),
                                  secret="someone-else", shop_domain=DEFAULT_SHOP)
        with pytest.raises(SignatureError):
            await source.verify(request)

    async def test_other_shop_is_refused_even_with_a_valid_hmac(self, source):
        request = shopify_webhook("returns/close", load_fixture("shopify/returns_close.json"),
                                  secret=SECRET, shop_domain="another-shop.myshopify.com")
        with pytest.raises(SignatureError, match="shop"):
            await source.verify(request)

    async def test_missing_shop_domain_is_refused(self, webhooks, source):
        request = webhooks.request("returns/close", load_fixture("shopify/returns_close.json"))
        headers = {k: v for k, v in request.headers.items() if k != "X-Shopify-Shop-Domain"}
        with pytest.raises(SignatureError):
            await source.verify(inbound_request(request.body, headers))

    async def test_shop_domain_comparison_ignores_case(self, source):
        request = shopify_webhook("returns/close", load_fixture("shopify/returns_close.json"),
                                  secret=SECRET, shop_domain=DEFAULT_SHOP.upper())
        await source.verify(request)

    async def test_headers_are_case_insensitive(self, webhooks, source):
        request = webhooks.request("returns/close", load_fixture("shopify/returns_close.json"))
        lowered = {k.lower(): v for k, v in request.headers.items()}
        await parse_one(source, inbound_request(request.body, lowered))

    @pytest.mark.parametrize("value", ["", "   ", "fake", "not base64!!", "é" * 44, "A" * 5000,
                                       "B23tXN681gZ0qIWNRrgtzBE9XSDo5yaUu6wfmhu3a7g"])
    async def test_malformed_hmac_header_is_a_signature_error(self, webhooks, source, value):
        request = webhooks.request("returns/close", load_fixture("shopify/returns_close.json"))
        headers = {**request.headers, "X-Shopify-Hmac-Sha256": value}
        with pytest.raises(SignatureError):
            await source.verify(inbound_request(request.body, headers))

    @pytest.mark.parametrize("topic", ["customers/redact", "customers/data_request", "shop/redact"])
    async def test_privacy_webhooks_with_a_bad_hmac_are_refused(self, source, topic):
        fixture = TOPIC_FIXTURES[topic]
        request = shopify_webhook(topic, load_fixture(fixture), secret="wrong",
                                  shop_domain=DEFAULT_SHOP)
        with pytest.raises(SignatureError):
            await source.verify(request)


# -- topic mapping -----------------------------------------------------------------------------

class TestReturnTopics:
    async def test_request(self, webhooks, source):
        payload = load_fixture("shopify/returns_request.json")
        request = webhooks.request("returns/request", payload, webhook_id="wh-1",
                                   event_id="ev-1", triggered_at="2025-03-10T13:00:27.877041743Z")
        event = await parse_one(source, request)
        assert event.type is EventType.REQUESTED
        assert event.return_id == RETURN_GID
        assert event.order_id == ORDER_GID
        assert event.source == "shop"
        assert event.source_event_id == "wh-1"
        assert event.occurred_at == datetime(2025, 3, 10, 13, 0, 27, 877041, tzinfo=UTC)
        assert [(i.quantity, i.reason) for i in event.items] == [(1, "size_too_small"),
                                                                 (2, "defective")]
        assert event.reason == "size_too_small"
        assert event.raw == payload
        assert event.extra["topic"] == "returns/request"
        assert event.extra["shopify_event_id"] == "ev-1"
        assert event.extra["shop_domain"] == DEFAULT_SHOP
        assert event.extra["return_name"] == "#1001-R1"

    async def test_approve(self, webhooks, source):
        event = await parse_one(source, webhooks.request(
            "returns/approve", load_fixture("shopify/returns_approve.json")))
        assert event.type is EventType.APPROVED
        assert event.return_id == RETURN_GID
        assert event.extra["return_status"] == "open"

    async def test_decline(self, webhooks, source):
        event = await parse_one(source, webhooks.request(
            "returns/decline", load_fixture("shopify/returns_decline.json")))
        assert event.type is EventType.DECLINED
        assert event.extra["decline_reason"] == "return_period_ended"
        assert event.extra["decline_note"].startswith("The 30-day")
        assert event.order_id == ORDER_GID

    @pytest.mark.parametrize(("topic", "expected"), [
        ("returns/close", EventType.CLOSED),
        ("returns/cancel", EventType.CANCELLED),
        ("returns/reopen", EventType.REOPENED),
        ("returns/process", EventType.UPDATED),
    ])
    async def test_thin_lifecycle_topics(self, webhooks, source, topic, expected):
        event = await parse_one(source, webhooks.request(
            topic, load_fixture("shopify/returns_close.json")))
        assert event.type is expected
        assert event.return_id == RETURN_GID
        assert event.order_id == ORDER_GID

    async def test_update_carries_only_the_gid(self, webhooks, source):
        payload = {"admin_graphql_api_id": RETURN_GID,
                   "return_line_items": {"removals": [{"return_line_item_id": 1, "delta": 1}]}}
        event = await parse_one(source, webhooks.request("returns/update", payload))
        assert event.type is EventType.UPDATED
        assert event.return_id == RETURN_GID

    async def test_label_attached(self, webhooks, source):
        event = await parse_one(source, webhooks.request(
            "reverse_deliveries/attach_deliverable",
            load_fixture("shopify/reverse_deliveries_attach_deliverable.json")))
        assert event.type is EventType.LABEL_CREATED
        assert event.return_id == RETURN_GID
        assert event.tracking.carrier == "USPS"
        assert event.tracking.number == "9434650899561234567890"
        assert event.tracking.url.startswith("https://tools.usps.com/")
        assert event.tracking.label_url.endswith("9994378.pdf")
        assert event.extra["reverse_delivery_id"] == "gid://shopify/ReverseDelivery/26353123"

    async def test_label_without_tracking_still_creates_the_label_event(self, webhooks, source):
        payload = load_fixture("shopify/reverse_deliveries_attach_deliverable.json")
        payload["shipping_deliverable"] = {"tracking": None, "label": None}
        event = await parse_one(source, webhooks.request(
            "reverse_deliveries/attach_deliverable", payload))
        assert event.type is EventType.LABEL_CREATED
        assert event.tracking is None

    async def test_dispose_restocked(self, webhooks, source):
        event = await parse_one(source, webhooks.request(
            "reverse_fulfillment_orders/dispose",
            load_fixture("shopify/reverse_fulfillment_orders_dispose.json")))
        assert event.type is EventType.RESTOCKED
        assert event.return_id is None  # resolved by enrich
        assert event.extra["reverse_fulfillment_order_id"] == (
            "gid://shopify/ReverseFulfillmentOrder/9994878")
        assert event.extra["disposition"] == "restocked"
        assert event.extra["dispositions"] == [{"type": "restocked", "quantity": 1}]

    @pytest.mark.parametrize(("types", "expected"), [
        (["not_restocked"], "not_restocked"),
        (["PROCESSING_REQUIRED"], "processing_required"),
        (["missing"], "missing"),
        (["restocked", "not_restocked"], "mixed"),
    ])
    async def test_dispose_not_restocked_is_inspected(self, webhooks, source, types, expected):
        payload = load_fixture("shopify/reverse_fulfillment_orders_dispose.json")
        template = payload["dispositions"][0]
        payload["dispositions"] = [{**template, "type": t} for t in types]
        event = await parse_one(source, webhooks.request(
            "reverse_fulfillment_orders/dispose", payload))
        assert event.type is EventType.INSPECTED
        assert event.extra["disposition"] == expected

    async def test_refund_of_a_return(self, webhooks, source):
        event = await parse_one(source, webhooks.request(
            "refunds/create", load_fixture("shopify/refunds_create.json")))
        assert event.type is EventType.REFUNDED
        assert event.return_id == RETURN_GID
        assert event.order_id == ORDER_GID
        # 25.00 + 6.32; the failed 10.00 attempt does not count.
        assert event.refund_amount == Money(amount=Decimal("31.32"), currency="USD")
        assert event.refund_method == "shopify_payments"
        assert event.extra["refund_id"] == "gid://shopify/Refund/929361465"

    async def test_refund_currency_falls_back_to_the_line_subtotals(self, webhooks, source):
        payload = load_fixture("shopify/refunds_create.json")
        for tx in payload["transactions"]:
            tx["currency"] = None
        event = await parse_one(source, webhooks.request("refunds/create", payload))
        assert event.refund_amount.currency == "USD"

    @pytest.mark.parametrize("linked", [{"id": 9994378}, RETURN_GID, 9994378, "9994378"])
    async def test_refund_return_link_forms(self, webhooks, source, linked):
        payload = load_fixture("shopify/refunds_create.json")
        payload["return"] = linked
        event = await parse_one(source, webhooks.request("refunds/create", payload))
        assert event.return_id == RETURN_GID

    async def test_refund_outside_a_return_is_acknowledged_without_events(self, webhooks, source):
        payload = load_fixture("shopify/refunds_create.json")
        payload["return"] = None
        request = webhooks.request("refunds/create", payload)
        await source.verify(request)
        assert await source.parse(request) == []

    async def test_unknown_topic_is_acknowledged_without_events(self, webhooks, source):
        request = webhooks.request("orders/create", {"id": 1})
        await source.verify(request)
        assert await source.parse(request) == []

    async def test_occurred_at_falls_back_to_the_payload_then_receipt(self, source):
        payload = load_fixture("shopify/refunds_create.json")
        request = shopify_webhook("refunds/create", payload, secret=SECRET,
                                  shop_domain=DEFAULT_SHOP, triggered_at=" ")
        event = (await source.parse(request))[0]
        assert event.occurred_at == datetime(2025, 3, 15, 18, 21, 40, tzinfo=UTC)
        request = shopify_webhook("returns/close", load_fixture("shopify/returns_close.json"),
                                  secret=SECRET, shop_domain=DEFAULT_SHOP, triggered_at=" ")
        event = (await source.parse(request))[0]
        assert event.occurred_at == request.received_at


class TestPrivacyTopics:
    async def test_customer_redact(self, webhooks, source):
        event = await parse_one(source, webhooks.request(
            "customers/redact", load_fixture("shopify/customers_redact.json")))
        assert event.type is EventType.CUSTOMER_REDACT
        assert event.return_id is None
        assert event.customer.id == "gid://shopify/Customer/191167"
        assert event.customer.email == "john@example.com"
        assert event.customer.phone == "555-625-1199"
        assert event.extra["orders"] == ["gid://shopify/Order/299938",
                                         "gid://shopify/Order/280263",
                                         "gid://shopify/Order/220458"]

    async def test_customer_data_request(self, webhooks, source):
        event = await parse_one(source, webhooks.request(
            "customers/data_request", load_fixture("shopify/customers_data_request.json")))
        assert event.type is EventType.CUSTOMER_DATA_REQUEST
        assert event.customer.id == "gid://shopify/Customer/191167"
        assert event.extra["data_request_id"] == "9999"

    async def test_shop_redact(self, webhooks, source):
        event = await parse_one(source, webhooks.request(
            "shop/redact", load_fixture("shopify/shop_redact.json")))
        assert event.type is EventType.SHOP_REDACT
        assert event.customer is None
        assert event.return_id is None
        assert event.extra["shop_id"] == "954889"

    async def test_redact_without_a_customer_is_rejected(self, webhooks, source):
        payload = load_fixture("shopify/customers_redact.json")
        payload["customer"] = {}
        with pytest.raises(RequestRejected) as caught:
            await source.parse(webhooks.request("customers/redact", payload))
        assert caught.value.field == "customer.id"


# -- rejections --------------------------------------------------------------------------------

class TestRejections:
    @pytest.mark.parametrize("header", ["X-Shopify-Topic", "X-Shopify-Webhook-Id"])
    async def test_missing_header_is_rejected_naming_it(self, webhooks, source, header):
        request = webhooks.request("returns/close", load_fixture("shopify/returns_close.json"))
        headers = {k: v for k, v in request.headers.items() if k != header}
        request = inbound_request(request.body, headers)
        await source.verify(request)
        with pytest.raises(RequestRejected) as caught:
            await source.parse(request)
        assert (caught.value.status, caught.value.field) == (422, header)

    @pytest.mark.parametrize("topic", ["returns/approve", "returns/decline", "returns/close"])
    async def test_missing_return_id_is_rejected(self, webhooks, source, topic):
        payload = load_fixture("shopify/returns_decline.json")
        del payload["id"], payload["admin_graphql_api_id"]
        with pytest.raises(RequestRejected) as caught:
            await source.parse(webhooks.request(topic, payload))
        assert (caught.value.status, caught.value.field) == (422, "id")

    async def test_foreign_gid_is_rejected(self, webhooks, source):
        payload = load_fixture("shopify/returns_close.json")
        payload["admin_graphql_api_id"] = "gid://shopify/Order/1"
        with pytest.raises(RequestRejected) as caught:
            await source.parse(webhooks.request("returns/close", payload))
        assert caught.value.field == "admin_graphql_api_id"

    async def test_label_without_return_is_rejected(self, webhooks, source):
        payload = load_fixture("shopify/reverse_deliveries_attach_deliverable.json")
        del payload["return"]
        with pytest.raises(RequestRejected) as caught:
            await source.parse(webhooks.request("reverse_deliveries/attach_deliverable", payload))
        assert caught.value.field == "return"

    async def test_dispose_without_dispositions_is_rejected(self, webhooks, source):
        payload = load_fixture("shopify/reverse_fulfillment_orders_dispose.json")
        del payload["dispositions"]
        with pytest.raises(RequestRejected) as caught:
            await source.parse(webhooks.request("reverse_fulfillment_orders/dispose", payload))
        assert caught.value.field == "dispositions"

    async def test_bad_quantity_is_rejected_naming_the_line(self, webhooks, source):
        payload = load_fixture("shopify/returns_request.json")
        payload["return_line_items"][1]["quantity"] = "two"
        with pytest.raises(RequestRejected) as caught:
            await source.parse(webhooks.request("returns/request", payload))
        assert caught.value.field == "return_line_items[1].quantity"

    async def test_bad_refund_amount_is_rejected(self, webhooks, source):
        payload = load_fixture("shopify/refunds_create.json")
        payload["transactions"][0]["amount"] = "twenty"
        with pytest.raises(RequestRejected) as caught:
            await source.parse(webhooks.request("refunds/create", payload))
        assert caught.value.field == "transactions[0].amount"

    async def test_non_json_body_is_a_400(self, webhooks, source):
        request = webhooks.request("returns/close", b"<html>")
        await source.verify(request)
        with pytest.raises(RequestRejected) as caught:
            await source.parse(request)
        assert caught.value.status == 400

    async def test_bad_triggered_at_is_rejected(self, webhooks, source):
        request = webhooks.request("returns/close", load_fixture("shopify/returns_close.json"),
                                   triggered_at="yesterday")
        with pytest.raises(RequestRejected) as caught:
            await source.parse(request)
        assert caught.value.field == "X-Shopify-Triggered-At"

    async def test_rejections_name_no_payload_values(self, webhooks, source):
        payload = load_fixture("shopify/customers_redact.json")
        payload["customer"]["email"] = ["john@example.com"]
        with pytest.raises(RequestRejected) as caught:
            await source.parse(webhooks.request("customers/redact", payload))
        assert "john@example.com" not in str(caught.value)


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_every_topic_survives_mutated_payloads(make_context, data):
    """Mutating any value of any topic's payload yields events or a RequestRejected, only."""
    topic = data.draw(st.sampled_from(sorted(TOPIC_FIXTURES)), label="topic")
    payload = data.draw(mutated(load_fixture(TOPIC_FIXTURES[topic])), label="payload")
    source = make_source(make_context)
    request = shopify_webhook(topic, encode(payload), secret=SECRET, shop_domain=DEFAULT_SHOP)

    async def run():
        await source.verify(request)
        try:
            events = await source.parse(request)
        except RequestRejected as exc:
            assert exc.status in (400, 422)
            return
        for event in events:
            event.model_dump_json()

    asyncio.run(run())


@pytest.mark.parametrize("topic", sorted(TOPIC_FIXTURES))
def test_sign_tells_the_topic_from_the_payload(make_context, topic):
    body = (FIXTURES / TOPIC_FIXTURES[topic]).read_bytes()
    headers = make_source(make_context).sign(body, event_id="evt-1")
    assert headers["X-Shopify-Topic"] == topic
    assert headers["X-Shopify-Webhook-Id"] == "evt-1"


def test_sign_refuses_a_payload_it_cannot_place(make_context):
    with pytest.raises(ValueError, match="X-Shopify-Topic"):
        make_source(make_context).sign(b'{"id": 1}', event_id="evt-1")


def test_every_topic_has_a_fixture_or_a_test():
    covered = set(TOPIC_FIXTURES) | {"returns/cancel", "returns/reopen", "returns/update",
                                     "returns/process"}
    assert set(TOPICS) == covered

