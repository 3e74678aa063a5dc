"""EasyPost source: X-Hmac-Signature and tracker status mapping."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pytest
from structlog.testing import capture_logs

from hub.contract.testing import SourceContract
from hub.errors import RequestRejected, SignatureError
from hub.events import EventType
from hub.testing.signing import easypost_webhook, inbound_request
from returnhub_easypost.config import EasyPostSettings
from returnhub_easypost.source import EasyPostSource
from returnhub_easypost.tracker import STATUS_EVENTS

from .conftest import load_fixture

SECRET = "easypost-webhook-secret"


def payload(status: str | None = None, **changes):
    event = load_fixture("easypost/tracker_updated.json")
    if status is not None:
        event["result"]["status"] = status
    event.update(changes)
    return event


@pytest.fixture
def source(make_context) -> EasyPostSource:
    return EasyPostSource(EasyPostSettings(webhook_secret=SECRET), make_context("easypost"))


async def parse(source, event, secret=SECRET):
    request = easypost_webhook(event, secret=secret)
    await source.verify(request)
    return await source.parse(request)


class TestEasyPostContract(SourceContract):
    instance_name = "easypost"
    fuzz_headers = ("X-Hmac-Signature",)

    def make_source(self, context):
        return EasyPostSource(EasyPostSettings(webhook_secret=SECRET), context)

    def valid_payload(self):
        return payload()

    def signed(self, body):
        return easypost_webhook(body, secret=SECRET)


async def test_tracker_updated_maps_to_an_in_transit_carrier_event(source):
    [event] = await parse(source, payload())
    assert event.type is EventType.IN_TRANSIT
    assert event.return_id is None
    assert event.source == "easypost"
    assert event.source_event_id == "evt_1f3f36a2fef111efb5d1ac1f6bc53342"
    assert event.occurred_at == datetime(2025, 3, 12, 8, 15, tzinfo=UTC)  # the latest scan
    assert event.tracking.carrier == "USPS"
    assert event.tracking.number == "9434650899561234567890"
    assert event.tracking.url.startswith("https://track.easypost.com/")
    assert event.tracking.estimated_delivery == datetime(2025, 3, 14, tzinfo=UTC)
    assert event.extra["carrier_status"] == "in_transit"
    assert event.extra["previous_status"] == "pre_transit"
    assert event.extra["tracker_id"] == "trk_5bd2e8e6c4b5448b9d9a3f2e1c0b7a6d"
    assert event.raw == payload()


@pytest.mark.parametrize(("status", "expected"), [
    ("pre_transit", EventType.LABEL_CREATED),
    ("in_transit", EventType.IN_TRANSIT),
    ("out_for_delivery", EventType.IN_TRANSIT),
    ("available_for_pickup", EventType.IN_TRANSIT),
    ("delivered", EventType.DELIVERED_TO_WAREHOUSE),
    ("return_to_sender", EventType.SHIPMENT_EXCEPTION),
    ("failure", EventType.SHIPMENT_EXCEPTION),
    ("error", EventType.SHIPMENT_EXCEPTION),
    ("cancelled", EventType.SHIPMENT_EXCEPTION),
])
async def test_status_mapping(source, status, expected):
    [event] = await parse(source, payload(status))
    assert event.type is expected
    assert STATUS_EVENTS[status] is expected


@pytest.mark.parametrize("status", ["unknown", "teleported"])
async def test_unknown_status_is_acknowledged_and_logged(source, status):
    with capture_logs() as logs:
        assert await parse(source, payload(status)) == []
    assert logs == [{"event": "carrier_status_unmapped", "carrier": "easypost",
                     "status": status, "connector": "easypost", "log_level": "info"}]


async def test_tracker_created(source):
    [event] = await parse(source, payload("pre_transit", description="tracker.created"))
    assert event.type is EventType.LABEL_CREATED
    assert event.extra["description"] == "tracker.created"


@pytest.mark.parametrize("description", ["batch.updated", "refund.successful", "scan_form.created"])
async def test_other_events_are_acknowledged_without_events(source, description):
    assert await parse(source, payload(description=description)) == []


async def test_occurred_at_falls_back_to_the_tracker_update_time(source):
    event = payload()
    event["result"]["tracking_details"] = []
    [parsed] = await parse(source, event)
    assert parsed.occurred_at == datetime(2025, 3, 12, 8, 16, 3, tzinfo=UTC)


async def test_unreadable_estimate_is_ignored(source):
    event = payload()
    event["result"]["est_delivery_date"] = "soon"
    [parsed] = await parse(source, event)
    assert parsed.tracking.estimated_delivery is None


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda e: e.pop("id"), "id"),
    (lambda e: e["result"].pop("tracking_code"), "result.tracking_code"),
    (lambda e: e["result"].pop("status"), "result.status"),
    (lambda e: e.__setitem__("result", None), "result"),
    (lambda e: e["result"]["tracking_details"][1].__setitem__("datetime", "noon"),
     "result.tracking_details[1].datetime"),
    (lambda e: e["result"].__setitem__("tracking_details", {"0": {}}), "result.tracking_details"),
])
async def test_invalid_fields_are_rejected_naming_them(source, mutate, field):
    event = payload()
    mutate(event)
    with pytest.raises(RequestRejected) as caught:
        await parse(source, event)
    assert (caught.value.status, caught.value.field) == (422, field)


async def test_secret_is_nfkd_normalized(make_context):
    secret = "ﬁle-secret-Ａ"  # a ligature and a full-width letter
    source = EasyPostSource(EasyPostSettings(webhook_secret=secret), make_context("easypost"))
    body = b'{"id": "evt_1", "description": "batch.created"}'
    normalized = hmac.new(b"file-secret-A", body, hashlib.sha256).hexdigest()
    header = {"X-Hmac-Signature": "hmac-sha256-hex=" + normalized}
    await source.verify(inbound_request(body, header))
    raw = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    with pytest.raises(SignatureError):
        await source.verify(inbound_request(body, {"X-Hmac-Signature": "hmac-sha256-hex=" + raw}))


async def test_previous_secret_is_accepted_during_rotation(make_context):
    source = EasyPostSource(EasyPostSettings(webhook_secret="new", previous_webhook_secret=SECRET),
                            make_context("easypost"))
    await source.verify(easypost_webhook(payload(), secret=SECRET))
    with pytest.raises(SignatureError):
        await source.verify(easypost_webhook(payload(), secret="older"))


@pytest.mark.parametrize("value", ["", "hmac-sha256-hex=", "sha256=00ff", "hmac-sha256-hex=zz",
                                   "hmac-sha256-hex=" + "é" * 64, "hmac-sha256-hex" + "0" * 64])
async def test_malformed_signature_headers_are_signature_errors(source, value):
    with pytest.raises(SignatureError):
        await source.verify(inbound_request(b"{}", {"X-Hmac-Signature": value}))
