"""AfterShip Tracking webhooks → hub events. Pure: no I/O.

``tracking_update`` maps the Tracking's ``tag`` onto the hub's events; ``edd_revise`` (a new
estimated delivery date) is a data-only UPDATED event; other events are acknowledged with none.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hub.contract import (
    EventType,
    RequestRejected,
    ReturnEvent,
    Tracking,
    as_list,
    as_object,
    build,
    text,
    timestamp,
)

#: AfterShip delivery status ``tag`` → hub event; an unknown tag maps to nothing.
TAG_EVENTS: dict[str, EventType] = {
    "Pending": EventType.LABEL_CREATED,
    "InfoReceived": EventType.LABEL_CREATED,
    "InTransit": EventType.IN_TRANSIT,
    "OutForDelivery": EventType.IN_TRANSIT,
    "AvailableForPickup": EventType.IN_TRANSIT,
    "Delivered": EventType.DELIVERED_TO_WAREHOUSE,
    "AttemptFail": EventType.SHIPMENT_EXCEPTION,
    "Exception": EventType.SHIPMENT_EXCEPTION,
    "Expired": EventType.SHIPMENT_EXCEPTION,
}


def _occurred_at(envelope: dict[str, Any], tracking: dict[str, Any],
                 received_at: datetime) -> datetime:
    """``ts`` (Unix UTC); else the latest checkpoint time; else when it was received."""
    if envelope.get("ts") is not None:
        return timestamp(envelope["ts"], "ts")
    times = []
    for index, checkpoint in enumerate(as_list(tracking.get("checkpoints"), "msg.checkpoints")):
        checkpoint = as_object(checkpoint, f"msg.checkpoints[{index}]")
        if checkpoint.get("checkpoint_time") is not None:
            times.append(timestamp(checkpoint["checkpoint_time"],
                                   f"msg.checkpoints[{index}].checkpoint_time"))
    return max(times) if times else received_at


def _estimate(tracking: dict[str, Any]) -> datetime | None:
    # Informational only: an unreadable estimate must not cost the scan itself.
    nested = tracking.get("aftership_estimated_delivery_date")
    candidates = [tracking.get("expected_delivery"),
                  nested.get("estimated_delivery_date") if isinstance(nested, dict) else None]
    for value in candidates:
        try:
            if value:
                return timestamp(value, "msg.expected_delivery")
        except RequestRejected:
            continue
    return None


def tracking_events(envelope: dict[str, Any], *, source: str, received_at: datetime
                    ) -> tuple[list[ReturnEvent], str | None]:
    """The hub events for one AfterShip webhook, and the unmapped tag if any."""
    event_id = text(envelope, "event_id", "event_id", required=True)
    kind = text(envelope, "event", "event", required=True)
    if kind not in ("tracking_update", "edd_revise"):
        return [], None
    tracking = as_object(envelope.get("msg"), "msg")
    number = text(tracking, "tracking_number", "msg.tracking_number", required=True)
    tag = text(tracking, "tag", "msg.tag", required=kind == "tracking_update")
    occurred_at = _occurred_at(envelope, tracking, received_at)
    event_type = EventType.UPDATED if kind == "edd_revise" else TAG_EVENTS.get(tag)
    if event_type is None:
        return [], tag
    parcel = build(Tracking, carrier=text(tracking, "slug", "msg.slug"), number=number,
                   url=text(tracking, "courier_tracking_link", "msg.courier_tracking_link"),
                   estimated_delivery=_estimate(tracking))
    first = envelope.get("is_tracking_first_tag")
    extra = {
        "event": kind,
        "carrier_status": tag,
        "subtag": text(tracking, "subtag", "msg.subtag"),
        "subtag_message": text(tracking, "subtag_message", "msg.subtag_message"),
        "is_tracking_first_tag": first if isinstance(first, bool) else None,
        "aftership_id": text(tracking, "id", "msg.id"),
        "order_id": text(tracking, "order_id", "msg.order_id"),
    }
    return [build(ReturnEvent, type=event_type, return_id=None, tracking=parcel,
                  occurred_at=occurred_at, source=source, source_event_id=event_id,
                  raw=envelope, extra=extra)], None
