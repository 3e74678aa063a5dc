"""Shippo source: URL token, opt-in Shippo-Auth-Signature, status mapping and dedupe key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pydantic
import pytest
from structlog.testing import capture_logs

from hub.contract.testing import SourceContract
from hub.errors import RequestRejected, SignatureError
from hub.events import EventType
from hub.testing.signing import inbound_request, shippo_signature, shippo_webhook
from returnhub_shippo.config import ShippoSettings
from returnhub_shippo.source import ShippoSource

from .conftest import load_fixture

TOKEN = "tok_4f9c2a7e1b8d3c6a5e0f"
HMAC_SECRET = "shippo-hmac-secret"


def payload(status: str | None = None, **changes):
    envelope = load_fixture("shippo/track_updated.json")
    if status is not None:
        envelope["data"]["tracking_status"]["status"] = status
    envelope.update(changes)
    return envelope


def make(make_context, **settings) -> ShippoSource:
    return ShippoSource(ShippoSettings(**settings), make_context("shippo"))


@pytest.fixture
def source(make_context) -> ShippoSource:
    return make(make_context, url_token=TOKEN)


async def parse(source, envelope):
    request = shippo_webhook(envelope, token=TOKEN)
    await source.verify(request)
    return await source.parse(request)


class TestShippoTokenContract(SourceContract):
    instance_name = "shippo"
    signs_body = False  # a URL token authenticates the sender only; HTTPS protects the body

    def make_source(self, context):
        return ShippoSource(ShippoSettings(url_token=TOKEN), context)

    def valid_payload(self):
        return payload()

    def signed(self, body):
        return shippo_webhook(body, token=TOKEN)


class TestShippoHmacContract(SourceContract):
    instance_name = "shippo"
    fuzz_headers = ("Shippo-Auth-Signature",)

    def make_source(self, context):
        return ShippoSource(ShippoSettings(hmac_secret=HMAC_SECRET), context)

    def valid_payload(self):
        return payload()

    def signed(self, body):
        return shippo_webhook(body, hmac_secret=HMAC_SECRET)


async def test_track_updated_maps_to_an_in_transit_carrier_event(source):
    [event] = await parse(source, payload())
    assert event.type is EventType.IN_TRANSIT
    assert event.return_id is None
    assert event.occurred_at == datetime(2025, 3, 12, 10, 31, tzinfo=UTC)
    assert event.source_event_id == ("usps:9205590164917312751089:"
                                     "2025-03-12T10:31:00+00:00:TRANSIT")
    assert event.tracking.carrier == "usps"
    assert event.tracking.number == "9205590164917312751089"
    assert event.tracking.estimated_delivery == datetime(2025, 3, 14, 18, tzinfo=UTC)
    assert event.extra["substatus"] == "package_departed"
    assert event.extra["metadata"] == "Return #1001-R1"
    assert event.raw == payload()


@pytest.mark.parametrize(("status", "expected"), [
    ("PRE_TRANSIT", EventType.LABEL_CREATED),
    ("TRANSIT", EventType.IN_TRANSIT),
    ("DELIVERED", EventType.DELIVERED_TO_WAREHOUSE),
    ("RETURNED", EventType.SHIPMENT_EXCEPTION),
    ("FAILURE", EventType.SHIPMENT_EXCEPTION),
])
async def test_status_mapping(source, status, expected):
    [event] = await parse(source, payload(status))
    assert event.type is expected


async def test_unknown_status_is_acknowledged_and_logged(source):
    with capture_logs() as logs:
        assert await parse(source, payload("UNKNOWN")) == []
    assert logs[0]["status"] == "UNKNOWN"


async def test_other_events_are_acknowledged_without_events(source):
    assert await parse(source, payload(event="transaction_created")) == []


async def test_dedupe_key_is_stable_across_timestamp_spellings(source):
    first = payload()
    second = payload()
    second["data"]["tracking_status"]["status_date"] = "2025-03-12T10:31:00.000000+00:00"
    assert (await parse(source, first))[0].source_event_id == (
        await parse(source, second))[0].source_event_id


async def test_a_new_status_gets_a_new_key(source):
    first = payload()
    second = payload("DELIVERED")
    second["data"]["tracking_status"]["status_date"] = "2025-03-13T16:02:00Z"
    assert (await parse(source, first))[0].source_event_id != (
        await parse(source, second))[0].source_event_id


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda e: e.pop("event"), "event"),
    (lambda e: e.__setitem__("data", "x"), "data"),
    (lambda e: e["data"].pop("tracking_number"), "data.tracking_number"),
    (lambda e: e["data"].__setitem__("tracking_status", None), "data.tracking_status"),
    (lambda e: e["data"]["tracking_status"].pop("status_date"),
     "data.tracking_status.status_date"),
    (lambda e: e["data"]["tracking_status"].__setitem__("status_date", "Tuesday"),
     "data.tracking_status.status_date"),
])
async def test_invalid_fields_are_rejected_naming_them(source, mutate, field):
    envelope = payload()
    mutate(envelope)
    with pytest.raises(RequestRejected) as caught:
        await parse(source, envelope)
    assert (caught.value.status, caught.value.field) == (422, field)


class TestUrlToken:
    @pytest.mark.parametrize("token", [None, "", "wrong-token-wrong-token", TOKEN + "x", "é\ud800"])
    async def test_wrong_or_missing_token_is_refused(self, source, token):
        with pytest.raises(SignatureError):
            await source.verify(shippo_webhook(payload(), token=token))

    def test_short_tokens_are_refused_by_config(self):
        with pytest.raises(pydantic.ValidationError):
            ShippoSettings(url_token="short")

    def test_an_unprotected_webhook_is_refused_by_config(self):
        with pytest.raises(pydantic.ValidationError, match="url_token"):
            ShippoSettings()


class TestAuthSignature:
    async def test_valid_signature(self, make_context):
        source = make(make_context, hmac_secret=HMAC_SECRET)
        await source.verify(shippo_webhook(payload(), hmac_secret=HMAC_SECRET))

    async def test_stale_signature_is_refused(self, make_context):
        source = make(make_context, hmac_secret=HMAC_SECRET)
        now = datetime.now(UTC)
        stale = int((now - timedelta(minutes=6)).timestamp())
        with pytest.raises(SignatureError, match="window"):
            await source.verify(shippo_webhook(payload(), hmac_secret=HMAC_SECRET,
                                               timestamp=stale, received_at=now))

    async def test_one_matching_v1_among_several_is_enough(self, make_context):
        source = make(make_context, hmac_secret=HMAC_SECRET)
        now = datetime.now(UTC)
        body = b'{"event": "track_updated"}'
        good = shippo_signature(HMAC_SECRET, body, int(now.timestamp()))
        header = good.replace(",v1=", ",v1=" + "0" * 64 + ",v1=")
        await source.verify(inbound_request(body, {"Shippo-Auth-Signature": header},
                                            received_at=now))

    @pytest.mark.parametrize("value", ["", "t=1", "v1=00", "t=abc,v1=00", "garbage",
                                       "t=１２,v1=00", "t=99999999999999999,v1=00", "t=1,v1=zz"])
    async def test_malformed_headers_are_signature_errors(self, make_context, value):
        source = make(make_context, hmac_secret=HMAC_SECRET)
        with pytest.raises(SignatureError):
            await source.verify(inbound_request(b"{}", {"Shippo-Auth-Signature": value}))

    async def test_both_mechanisms_must_pass_when_both_are_configured(self, make_context):
        source = make(make_context, url_token=TOKEN, hmac_secret=HMAC_SECRET)
        await source.verify(shippo_webhook(payload(), token=TOKEN, hmac_secret=HMAC_SECRET))
        with pytest.raises(SignatureError):
            await source.verify(shippo_webhook(payload(), hmac_secret=HMAC_SECRET))
        with pytest.raises(SignatureError):
            await source.verify(shippo_webhook(payload(), token=TOKEN))
