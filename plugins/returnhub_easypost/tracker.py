"""EasyPost tracker events → hub events. Pure: no I/O.

Only ``tracker.created`` and ``tracker.updated`` concern returns; every other event
description (batches, claims, refunds of postage...) is acknowledged with no event.
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

#: Event descriptions that carry a Tracker in ``result``.
TRACKER_EVENTS = frozenset({"tracker.created", "tracker.updated"})

#: EasyPost tracker ``status`` → hub event. ``unknown`` (and anything new) maps to nothing.
STATUS_EVENTS: dict[str, EventType] = {
    "pre_transit": EventType.LABEL_CREATED,
    "in_transit": EventType.IN_TRANSIT,
    "out_for_delivery": EventType.IN_TRANSIT,
    "available_for_pickup": EventType.IN_TRANSIT,
    "delivered": EventType.DELIVERED_TO_WAREHOUSE,
    # For a return parcel, "returned to sender" means it is going back to the customer.
    "return_to_sender": EventType.SHIPMENT_EXCEPTION,
    "failure": EventType.SHIPMENT_EXCEPTION,
    "error": EventType.SHIPMENT_EXCEPTION,
    "cancelled": EventType.SHIPMENT_EXCEPTION,
}


def _latest_scan(tracker: dict[str, Any]) -> datetime | None:
    times = []
    for index, detail in enumerate(as_list(tracker.get("tracking_details"),
                                           "result.tracking_details")):
        detail = as_object(detail, f"result.tracking_details[{index}]")
        if detail.get("datetime") is not None:
            times.append(timestamp(detail["datetime"],
                                   f"result.tracking_details[{index}].datetime"))
    return max(times) if times else None


def _occurred_at(event: dict[str, Any], tracker: dict[str, Any], received_at: datetime) -> datetime:
    """The latest scan time; else the tracker's, then the event's, update time."""
    scan = _latest_scan(tracker)
    if scan is not None:
        return scan
    for obj, key, field in ((tracker, "updated_at", "result.updated_at"),
                            (event, "updated_at", "updated_at"),
                            (event, "created_at", "created_at")):
        if obj.get(key) is not None:
            return timestamp(obj[key], field)
    return received_at


def _estimate(tracker: dict[str, Any]) -> datetime | None:
    # Informational only: an unreadable estimate must not cost the scan itself.
    try:
        value = tracker.get("est_delivery_date")
        return timestamp(value, "result.est_delivery_date") if value else None
    except RequestRejected:
        return None


def tracker_events(event: dict[str, Any], *, source: str, received_at: datetime
                   ) -> tuple[list[ReturnEvent], str | None]:
    """The hub events for one EasyPost Event object, and the unmapped status if any."""
    event_id = text(event, "id", "id", required=True)
    description = (text(event, "description", "description") or "").lower()
    if description not in TRACKER_EVENTS:
        return [], None
    tracker = as_object(event.get("result"), "result")
    status = text(tracker, "status", "result.status", required=True).lower()
    number = text(tracker, "tracking_code", "result.tracking_code", required=True)
    occurred_at = _occurred_at(event, tracker, received_at)
    event_type = STATUS_EVENTS.get(status)
    if event_type is None:
        return [], status
    previous = event.get("previous_attributes")
    parcel = build(Tracking, carrier=text(tracker, "carrier", "result.carrier"), number=number,
                   url=text(tracker, "public_url", "result.public_url"),
                   estimated_delivery=_estimate(tracker))
    extra = {
        "carrier_status": status,
        "status_detail": text(tracker, "status_detail", "result.status_detail"),
        "previous_status": (text(previous, "status", "previous_attributes.status")
                            if isinstance(previous, dict) else None),
        "tracker_id": text(tracker, "id", "result.id"),
        "shipment_id": text(tracker, "shipment_id", "result.shipment_id"),
        "mode": text(event, "mode", "mode"),
        "description": description,
    }
    return [build(ReturnEvent, type=event_type, return_id=None, tracking=parcel,
                  occurred_at=occurred_at, source=source, source_event_id=event_id, raw=event,
                  extra=extra)], None
