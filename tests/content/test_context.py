"""build_context: the one context shape, from the database rows."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from hub.config import Settings
from hub.content.context import build_context
from hub.content.samples import sample_context
from tests.content.support import claimed, make_composer


def context_of(**kw):
    composer = make_composer(Settings())
    item = claimed(composer, **kw)
    return build_context(notification=item.notification, ret=item.ret, customer=item.customer,
                         brand=Settings().notifications.brand, codec=composer.codec,
                         portal_url="https://hub.example/portal/r/x")


def test_context_exposes_stored_details():
    context = context_of(refund_amount=Decimal("29.5"), currency="EUR", locale="fr-CA",
                         details={"items": [{"name": "Tee", "quantity": 2}],
                                  "estimated_delivery": "2026-12-01T00:00:00Z",
                                  "dropoff": {"code": "HR7", "expires_at": "2026-12-08"},
                                  "decline_note": "Worn", "exception": {"status": "x"},
                                  "exchange": {"tracking_number": "JD1"}})
    assert context["locale"] == "fr-CA" and context["language"] == "fr"
    assert context["store"] == "shop" and context["customer"]["first_name"] == "Jane"
    assert context["return"]["items"][0]["quantity"] == 2
    assert context["return"]["refund_amount"] == Decimal("29.5")
    assert isinstance(context["tracking"]["estimated_delivery"], datetime)
    assert context["dropoff"]["code"] == "HR7" and context["qr"]["payload"] == "HR7"
    assert context["return"]["decline_note"] == "Worn"
    assert context["exchange"]["tracking_number"] == "JD1"
    assert context["portal_url"] == "https://hub.example/portal/r/x"


def test_optional_values_are_none_not_missing():
    context = context_of(name=None)
    assert context["dropoff"] is None and context["qr"] is None and context["exchange"] is None
    assert context["tracking"]["number"] is None and context["customer"]["first_name"] is None


def test_samples_have_the_same_shape_as_real_contexts():
    def shape(value):
        if isinstance(value, dict):
            return {k: shape(v) for k, v in value.items()}
        return None

    real = context_of(details={"dropoff": {"code": "X"}, "exchange": {"carrier": "DHL"},
                               "exception": {"status": "s"}}, label_url="https://l.example/1")
    sample = sample_context(Settings(), "approved", "email")
    shape_real, shape_sample = shape(real), shape(sample)
    assert shape_real.keys() == shape_sample.keys()
    for key in ("return", "tracking", "dropoff", "qr", "exchange", "exception", "customer"):
        assert shape_real[key] == shape_sample[key], key


def test_details_from_event_maps_what_sources_send():
    from datetime import UTC

    from hub.domain.details import details_from_event
    from hub.events import EventType, ReturnEvent, Tracking

    event = ReturnEvent(type=EventType.LABEL_CREATED, return_id="R-1", tracking=Tracking(
        number="1Z", estimated_delivery=datetime(2026, 12, 1, tzinfo=UTC)), extra={
        "dropoff_code": "HR7", "dropoff_url": "https://qr.example/HR7",
        "dropoff_expires_at": "2026-12-08T00:00:00Z", "exchange_tracking_number": "JD1"})
    found = details_from_event(event)
    assert found["estimated_delivery"] == "2026-12-01T00:00:00+00:00"
    assert found["dropoff"] == {"code": "HR7", "url": "https://qr.example/HR7",
                                "expires_at": "2026-12-08T00:00:00Z"}
    assert found["exchange"]["tracking_number"] == "JD1"
    exception = ReturnEvent(type=EventType.SHIPMENT_EXCEPTION, return_id="R-1", extra={
        "carrier_status": "AttemptFail", "subtag_message": "Recipient not available"})
    assert details_from_event(exception)["exception"] == {
        "status": "AttemptFail", "message": "Recipient not available"}
    declined = ReturnEvent(type=EventType.DECLINED, return_id="R-1",
                           extra={"decline_note": "Worn items"})
    assert details_from_event(declined) == {"decline_note": "Worn items"}
    # Stored, then read back through build_context, the QR comes from the drop-off code.
    assert context_of(details=found)["qr"]["payload"] == "HR7"
