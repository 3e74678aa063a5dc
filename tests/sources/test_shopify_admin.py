"""Shopify source against the fake Admin GraphQL API: enrich and act over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from structlog.testing import capture_logs

from hub.errors import (
    PermanentError,
    ProviderMisconfigured,
    ProviderUnavailable,
    RateLimited,
    TransientError,
)
from hub.events import Customer, EventType, Money, ReturnEvent, Tracking
from hub.testing.fake_shopify import (
    DEFAULT_SHOP,
    DEFAULT_TOKEN,
    FakeShopifyAdmin,
    ShopifyWebhookFactory,
    return_node,
)
from returnhub_shopify.actions import ShopifyActionError
from returnhub_shopify.config import ShopifySettings
from returnhub_shopify.source import ShopifySource

from .conftest import load_fixture

SECRET = "shpss_current_secret"
RETURN_GID = "gid://shopify/Return/9994378"


@pytest.fixture
async def fake() -> AsyncIterator[FakeShopifyAdmin]:
    async with FakeShopifyAdmin() as server:
        yield server


def build_source(make_context, http, base_url, **settings) -> ShopifySource:
    options = {"shop_domain": DEFAULT_SHOP, "api_secret": SECRET, "access_token": DEFAULT_TOKEN,
               "admin_url": base_url, **settings}
    return ShopifySource(ShopifySettings(**options), make_context("shop", http=http))


@pytest.fixture
def source(make_context, http_session, fake) -> ShopifySource:
    return build_source(make_context, http_session, fake.url)


async def webhook_event(source, topic, fixture) -> ReturnEvent:
    request = ShopifyWebhookFactory(secret=SECRET).request(
        topic, load_fixture(fixture), triggered_at="2025-03-10T13:00:00Z")
    await source.verify(request)
    return (await source.parse(request))[0]


def requested_event(return_id: str = RETURN_GID) -> ReturnEvent:
    return ReturnEvent(type=EventType.REQUESTED, return_id=return_id, source="shop",
                       source_event_id="wh-1", occurred_at=datetime(2025, 3, 10, tzinfo=UTC))


class TestEnrich:
    async def test_request_event_gets_customer_prices_and_rule_inputs(self, source, fake):
        fake.add_return(return_node(9994378, lines=[
            {"sku": "TEE-BLU-M", "name": "Blue tee - M", "quantity": 1, "price": "29.00",
             "reason": "SIZE_TOO_SMALL", "product_type": "Shirts"},
            {"sku": "SOCK-3PK", "name": "Socks (3 pack)", "quantity": 2, "price": "12.50",
             "reason": "DEFECTIVE", "product_type": "Accessories"},
        ]))
        event = await webhook_event(source, "returns/request", "shopify/returns_request.json")
        enriched = await source.enrich(event)

        assert enriched.customer == Customer(
            id="gid://shopify/Customer/7001", email="jane.doe@example.com", phone="+14155550100",
            name="Jane Doe", locale="en", tags=["vip"])
        assert [(i.sku, i.name, i.quantity, i.price, i.reason, i.category)
                for i in enriched.items] == [
            ("TEE-BLU-M", "Blue tee - M", 1, Money(amount=Decimal("29.00"), currency="USD"),
             "size_too_small", "Shirts"),
            ("SOCK-3PK", "Socks (3 pack)", 2, Money(amount=Decimal("12.50"), currency="USD"),
             "defective", "Accessories"),
        ]
        assert enriched.order_total == Money(amount=Decimal("129.00"), currency="USD")
        assert enriched.order_number == "#1001"
        assert enriched.order_id == "gid://shopify/Order/100100"
        assert enriched.reason == "size_too_small"
        # Requested 2025-03-10 09:00, delivered 2025-02-25 15:30, ordered 2025-02-20 12:00.
        assert enriched.extra["days_since_delivery"] == 12
        assert enriched.extra["days_since_order"] == 17
        assert enriched.extra["shipping_country"] == "US"
        assert enriched.extra["customer_order_count"] == 3
        assert enriched.extra["enriched"] is True
        assert enriched.extra["topic"] == "returns/request"  # webhook extras are kept
        assert enriched.raw == event.raw
        assert enriched.source_event_id == event.source_event_id
        assert fake.requests == [{"operation": "return", "variables": {"id": RETURN_GID}}]

    async def test_dispose_event_finds_its_return_through_the_rfo(self, source, fake):
        fake.add_return(return_node(9994378, rfo_number=9994878))
        fake.add_return(return_node(9994379, rfo_number=9994879))
        event = await webhook_event(source, "reverse_fulfillment_orders/dispose",
                                    "shopify/reverse_fulfillment_orders_dispose.json")
        assert event.return_id is None
        enriched = await source.enrich(event)
        assert enriched.return_id == RETURN_GID
        assert enriched.type is EventType.RESTOCKED
        assert [r["operation"] for r in fake.requests] == ["reverseFulfillmentOrder", "return"]

    async def test_dispose_event_for_an_unknown_rfo_is_left_unchanged(self, source, fake):
        event = await webhook_event(source, "reverse_fulfillment_orders/dispose",
                                    "shopify/reverse_fulfillment_orders_dispose.json")
        with capture_logs() as logs:
            assert await source.enrich(event) == event
        assert logs[0]["event"] == "shopify_return_not_found"

    async def test_return_tracking_fills_events_without_tracking(self, source, fake):
        fake.add_return(return_node(9994378, tracking={
            "carrier": "UPS", "number": "1Z999AA10123456784", "url": "https://ups.example/t",
            "label_url": "https://cdn.example/label.pdf"}))
        enriched = await source.enrich(requested_event())
        assert enriched.tracking == Tracking(carrier="UPS", number="1Z999AA10123456784",
                                             url="https://ups.example/t",
                                             label_url="https://cdn.example/label.pdf")

    async def test_webhook_tracking_wins_over_the_api(self, source, fake):
        fake.add_return(return_node(9994378, tracking={"carrier": "UPS", "number": "1Z-OLD"}))
        event = await webhook_event(source, "reverse_deliveries/attach_deliverable",
                                    "shopify/reverse_deliveries_attach_deliverable.json")
        enriched = await source.enrich(event)
        assert enriched.tracking.number == "9434650899561234567890"

    async def test_guest_checkout_keeps_the_order_contact(self, source, fake):
        fake.add_return(return_node(9994378, customer_number=None, email="guest@example.com",
                                    phone=None, delivered_at=None, country=None))
        enriched = await source.enrich(requested_event())
        assert enriched.customer == Customer(email="guest@example.com")
        assert "days_since_delivery" not in enriched.extra
        assert "shipping_country" not in enriched.extra

    async def test_unknown_return_is_left_unchanged(self, source, fake):
        event = requested_event("gid://shopify/Return/404")
        assert await source.enrich(event) == event

    async def test_privacy_events_are_not_enriched(self, source, fake):
        event = await webhook_event(source, "customers/redact", "shopify/customers_redact.json")
        assert await source.enrich(event) == event
        assert fake.requests == []

    async def test_without_an_access_token_nothing_is_fetched(self, make_context, http_session,
                                                                fake):
        source = build_source(make_context, http_session, fake.url, access_token=None)
        event = requested_event()
        assert await source.enrich(event) == event
        assert fake.requests == []

    async def test_source_without_a_shared_session_opens_and_closes_its_own(self, make_context,
                                                                             fake):
        fake.add_return(return_node(9994378))
        source = build_source(make_context, None, fake.url)
        try:
            assert (await source.enrich(requested_event())).extra["enriched"] is True
        finally:
            await source.close()

    async def test_enrich_logs_no_customer_data(self, source, fake):
        fake.add_return(return_node(9994378))
        with capture_logs() as logs:
            await source.enrich(requested_event())
            await source.enrich(requested_event("gid://shopify/Return/404"))
        assert "jane.doe@example.com" not in repr(logs)


class TestAdminFailures:
    async def test_throttled_is_rate_limited_with_a_computed_wait(self, source, fake):
        fake.throttle()
        with pytest.raises(RateLimited) as caught:
            await source.enrich(requested_event())
        assert isinstance(caught.value, TransientError)
        assert caught.value.retry_after == pytest.approx(1.0)  # (752 - 652) / 100

    async def test_http_429_is_rate_limited_with_retry_after(self, source, fake):
        fake.rate_limit_next(retry_after=2)
        with pytest.raises(RateLimited) as caught:
            await source.enrich(requested_event())
        assert caught.value.retry_after == 2.0

    @pytest.mark.parametrize("status", [500, 502, 503])
    async def test_5xx_is_transient(self, source, fake, status):
        fake.fail_next(status=status)
        with pytest.raises(ProviderUnavailable) as caught:
            await source.enrich(requested_event())
        assert isinstance(caught.value, TransientError)
        assert caught.value.status == status

    async def test_recovers_after_a_transient_failure(self, source, fake):
        fake.add_return(return_node(9994378))
        fake.fail_next(status=503)
        with pytest.raises(TransientError):
            await source.enrich(requested_event())
        assert (await source.enrich(requested_event())).extra["enriched"] is True

    async def test_wrong_token_is_misconfigured(self, make_context, http_session, fake):
        source = build_source(make_context, http_session, fake.url,
                              access_token="shpat_wrong")
        with pytest.raises(ProviderMisconfigured) as caught:
            await source.enrich(requested_event())
        assert caught.value.status == 401
        assert "shpat_wrong" not in str(caught.value)

    @pytest.mark.parametrize("status", [401, 403])
    async def test_auth_statuses_are_misconfigured(self, source, fake, status):
        fake.fail_next(status=status)
        with pytest.raises(ProviderMisconfigured):
            await source.enrich(requested_event())

    async def test_unsupported_api_version_is_misconfigured(self, make_context, http_session,
                                                             fake):
        source = build_source(make_context, http_session, fake.url, api_version="2024-01")
        with pytest.raises(ProviderMisconfigured) as caught:
            await source.enrich(requested_event())
        assert caught.value.status == 404

    async def test_other_graphql_errors_are_transient(self, source, fake):
        with pytest.raises(TransientError) as caught:
            await source._api().execute("query { shopDoesNotExist { id } }", {})
        assert "doesn't exist" in str(caught.value)

    async def test_unreachable_server_is_unavailable(self, make_context, http_session):
        server = await FakeShopifyAdmin().start()
        base_url = server.url
        await server.close()
        source = build_source(make_context, http_session, base_url)
        with pytest.raises(ProviderUnavailable):
            await source.enrich(requested_event())


class TestActions:
    async def test_approve(self, source, fake):
        fake.add_return(return_node(9994378, status="REQUESTED"))
        result = await source.act("approve", requested_event())
        assert result == {"action": "returnApproveRequest", "return_id": RETURN_GID,
                          "status": "OPEN"}
        assert fake.mutations == [{"name": "returnApproveRequest", "applied": True,
                                   "input": {"id": RETURN_GID, "notifyCustomer": False}}]
        assert fake.returns[RETURN_GID]["status"] == "OPEN"

    async def test_decline_with_reason_and_note(self, source, fake):
        fake.add_return(return_node(9994378, status="REQUESTED"))
        result = await source.act("decline", requested_event(), decline_reason="final_sale",
                                  decline_note="Final-sale items cannot be returned.")
        assert result["status"] == "DECLINED"
        assert fake.mutations == [{"name": "returnDeclineRequest", "applied": True, "input": {
            "id": RETURN_GID, "declineReason": "FINAL_SALE", "notifyCustomer": False,
            "declineNote": "Final-sale items cannot be returned."}}]
        assert fake.returns[RETURN_GID]["decline"]["reason"] == "FINAL_SALE"

    async def test_decline_defaults_to_other(self, source, fake):
        fake.add_return(return_node(9994378, status="REQUESTED"))
        await source.act("decline", requested_event())
        assert fake.mutations[0]["input"]["declineReason"] == "OTHER"

    async def test_user_errors_raise_a_clear_permanent_error(self, source, fake):
        fake.add_return(return_node(9994378, status="OPEN"))
        with pytest.raises(ShopifyActionError) as caught:
            await source.act("approve", requested_event())
        assert isinstance(caught.value, PermanentError)
        assert caught.value.user_errors[0]["code"] == "INVALID_STATE"
        assert "input.id: Return is not approvable" in str(caught.value)
        assert fake.mutations[0]["applied"] is False

    async def test_invalid_decline_reason_is_refused_before_calling_shopify(self, source, fake):
        with pytest.raises(ShopifyActionError, match="decline_reason"):
            await source.act("decline", requested_event(), decline_reason="CHANGED_MIND")
        assert fake.requests == []

    async def test_overlong_decline_note_is_refused(self, source, fake):
        with pytest.raises(ShopifyActionError, match="decline_note"):
            await source.act("decline", requested_event(), decline_note="x" * 501)

    async def test_unknown_parameter_is_refused(self, source, fake):
        with pytest.raises(ShopifyActionError, match="notify"):
            await source.act("approve", requested_event(), notify=True)

    async def test_unknown_action_is_not_implemented(self, source):
        with pytest.raises(NotImplementedError):
            await source.act("refund", requested_event())

    async def test_event_without_a_return_is_refused(self, source, fake):
        event = requested_event().model_copy(update={"return_id": None})
        with pytest.raises(ShopifyActionError):
            await source.act("approve", event)

    async def test_throttled_action_is_transient(self, source, fake):
        fake.add_return(return_node(9994378))
        fake.throttle()
        with pytest.raises(TransientError):
            await source.act("approve", requested_event())
        assert fake.mutations == []

    async def test_action_without_a_token_is_misconfigured(self, make_context, http_session,
                                                           fake):
        source = build_source(make_context, http_session, fake.url, access_token=None)
        with pytest.raises(ProviderMisconfigured):
            await source.act("approve", requested_event())
