"""Shippo ``track_updated`` webhooks → hub events. Pure: no I/O.

Shippo sends no event id and says its tracking webhooks are not idempotent, so the dedupe key
is built from what identifies one status: carrier, tracking number, status date and status.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hub.contract import (
    EventType,
    RequestRejected,
    ReturnEvent,
    Tracking,
    as_object,
    build,
    reject,
    text,
    timestamp,
)

#: Shippo ``tracking_status.status`` → hub event; UNKNOWN (and anything new) maps to nothing.
STATUS_EVENTS: dict[str, EventType] = {
    "PRE_TRANSIT": EventType.LABEL_CREATED,
    "TRANSIT": EventType.IN_TRANSIT,
    "DELIVERED": EventType.DELIVERED_TO_WAREHOUSE,
    # For a return parcel, RETURNED means it is going back to the customer: a problem.
    "RETURNED": EventType.SHIPMENT_EXCEPTION,
    "FAILURE": EventType.SHIPMENT_EXCEPTION,
}


def _estimate(track: dict[str, Any]) -> datetime | None:
    # Informational only: an unreadable ETA must not cost the scan itself.
    try:
        return timestamp(track["eta"], "data.eta") if track.get("eta") else None
    except RequestRejected:
        return None


def track_events(envelope: dict[str, Any], *, source: str, received_at: datetime | None = None
                 ) -> tuple[list[ReturnEvent], str | None]:
    """The hub events for one Shippo webhook, and the unmapped status if any (``received_at``
    is unused: a Shippo status carries its own date)."""
    kind = text(envelope, "event", "event", required=True)
    if kind != "track_updated":
        return [], None
    track = as_object(envelope.get("data"), "data")
    number = text(track, "tracking_number", "data.tracking_number", required=True)
    carrier = text(track, "carrier", "data.carrier")
    status_obj = as_object(track.get("tracking_status"), "data.tracking_status")
    status = text(status_obj, "status", "data.tracking_status.status", required=True).upper()
    if status_obj.get("status_date") is None:
        raise reject("data.tracking_status.status_date",
                     "data.tracking_status.status_date is required")
    occurred_at = timestamp(status_obj["status_date"], "data.tracking_status.status_date")
    event_type = STATUS_EVENTS.get(status)
    if event_type is None:
        return [], status
    substatus = status_obj.get("substatus")
    parcel = build(Tracking, carrier=carrier, number=number, estimated_delivery=_estimate(track))
    extra = {
        "carrier_status": status,
        "status_details": text(status_obj, "status_details", "data.tracking_status.status_details"),
        "substatus": (text(substatus, "code", "data.tracking_status.substatus.code")
                      if isinstance(substatus, dict) else None),
        "tracking_status_id": text(status_obj, "object_id", "data.tracking_status.object_id"),
        "metadata": text(track, "metadata", "data.metadata"),
        "transaction": text(track, "transaction", "data.transaction"),
        "test": envelope.get("test") is True,
    }
    dedupe_key = f"{carrier or ''}:{number}:{occurred_at.isoformat()}:{status}"
    return [build(ReturnEvent, type=event_type, return_id=None, tracking=parcel,
                  occurred_at=occurred_at, source=source, source_event_id=dedupe_key,
                  raw=envelope, extra=extra)], None
