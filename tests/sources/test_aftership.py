"""AfterShip Tracking source: aftership-hmac-sha256 and tag mapping."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from structlog.testing import capture_logs

from hub.contract.testing import SourceContract
from hub.errors import RequestRejected, SignatureError
from hub.events import EventType
from hub.testing.signing import aftership_webhook, inbound_request
from returnhub_aftership.config import AfterShipSettings
from returnhub_aftership.source import AfterShipSource

from .conftest import load_fixture

SECRET = "aftership-webhook-secret"


def payload(tag: str | None = None, **changes):
    envelope = load_fixture("aftership/tracking_update.json")
    if tag is not None:
        envelope["msg"]["tag"] = tag
    envelope.update(changes)
    return envelope


@pytest.fixture
def source(make_context) -> AfterShipSource:
    return AfterShipSource(AfterShipSettings(webhook_secret=SECRET), make_context("aftership"))


async def parse(source, envelope, secret=SECRET):
    request = aftership_webhook(envelope, secret=secret)
    await source.verify(request)
    return await source.parse(request)


class TestAfterShipContract(SourceContract):
    instance_name = "aftership"
    fuzz_headers = ("aftership-hmac-sha256",)

    def make_source(self, context):
        return AfterShipSource(AfterShipSettings(webhook_secret=SECRET), context)

    def valid_payload(self):
        return payload()

    def signed(self, body):
        return aftership_webhook(body, secret=SECRET)


async def test_tracking_update_maps_to_an_in_transit_carrier_event(source):
    [event] = await parse(source, payload())
    assert event.type is EventType.IN_TRANSIT
    assert event.return_id is None
    assert event.source_event_id == "4a6b1c52-2d7e-4d0b-9f15-3b0e3f6a5c11"
    assert event.occurred_at == datetime(2025, 3, 12, 12, 15, 3, tzinfo=UTC)  # ts
    assert event.tracking.carrier == "ups"
    assert event.tracking.number == "1Z999AA10123456784"
    assert event.tracking.url.startswith("https://www.ups.com/track")
    assert event.tracking.estimated_delivery.date() == date(2025, 3, 14)
    assert event.extra["subtag"] == "InTransit_002"
    assert event.extra["is_tracking_first_tag"] is True
    assert event.raw == payload()


@pytest.mark.parametrize(("tag", "expected"), [
    ("Pending", EventType.LABEL_CREATED),
    ("InfoReceived", EventType.LABEL_CREATED),
    ("InTransit", EventType.IN_TRANSIT),
    ("OutForDelivery", EventType.IN_TRANSIT),
    ("AvailableForPickup", EventType.IN_TRANSIT),
    ("Delivered", EventType.DELIVERED_TO_WAREHOUSE),
    ("AttemptFail", EventType.SHIPMENT_EXCEPTION),
    ("Exception", EventType.SHIPMENT_EXCEPTION),
    ("Expired", EventType.SHIPMENT_EXCEPTION),
])
async def test_tag_mapping(source, tag, expected):
    [event] = await parse(source, payload(tag))
    assert event.type is expected
    assert event.extra["carrier_status"] == tag


async def test_unknown_tag_is_acknowledged_and_logged(source):
    with capture_logs() as logs:
        assert await parse(source, payload("Teleported")) == []
    assert logs[0]["event"] == "carrier_status_unmapped"


async def test_edd_revise_is_a_data_only_update(source):
    [event] = await parse(source, payload(event="edd_revise"))
    assert event.type is EventType.UPDATED
    assert event.tracking.estimated_delivery.date() == date(2025, 3, 14)


async def test_other_events_are_acknowledged_without_events(source):
    assert await parse(source, payload(event="tracking_pending_time")) == []


async def test_occurred_at_falls_back_to_the_latest_checkpoint(source):
    envelope = payload()
    del envelope["ts"]
    [event] = await parse(source, envelope)
    assert event.occurred_at == datetime(2025, 3, 12, 12, 10, tzinfo=UTC)


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda e: e.pop("event_id"), "event_id"),
    (lambda e: e.pop("event"), "event"),
    (lambda e: e.__setitem__("msg", []), "msg"),
    (lambda e: e["msg"].pop("tracking_number"), "msg.tracking_number"),
    (lambda e: e["msg"].pop("tag"), "msg.tag"),
    (lambda e: e.__setitem__("ts", "late"), "ts"),
])
async def test_invalid_fields_are_rejected_naming_them(source, mutate, field):
    envelope = payload()
    mutate(envelope)
    with pytest.raises(RequestRejected) as caught:
        await parse(source, envelope)
    assert (caught.value.status, caught.value.field) == (422, field)


async def test_previous_secret_is_accepted_during_rotation(make_context):
    settings = AfterShipSettings(webhook_secret="new", previous_webhook_secret=SECRET)
    source = AfterShipSource(settings, make_context("aftership"))
    await source.verify(aftership_webhook(payload(), secret=SECRET))
    with pytest.raises(SignatureError):
        await source.verify(aftership_webhook(payload(), secret="older"))


@pytest.mark.parametrize("value", ["", "hmac-sha256=abc", "%%%", "é", "QUJD"])
async def test_malformed_signature_headers_are_signature_errors(source, value):
    with pytest.raises(SignatureError):
        await source.verify(inbound_request(b"{}", {"aftership-hmac-sha256": value}))
