"""Merging what an event says into its return's fields. Pure.

Events arrive out of order: a newer event overwrites a field, an older (late) one only fills
what is still empty.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from hub.domain.details import details_from_event
from hub.identity import tracking_key
from hub.references import pick_reference

if TYPE_CHECKING:
    from datetime import datetime

    from hub.domain.views import ReturnView
    from hub.events import ReturnEvent

#: Keys of an event's ``extra`` that name the return's region, in order of preference.
REGION_KEYS = ("region", "shipping_country", "country")


def counted_at(event: ReturnEvent, received_at: datetime) -> datetime:
    """When ``event`` counts as having happened, for its order among the return's events: its
    ``occurred_at``, but never after the hub received it. A platform's clock far ahead made
    an approval dated 30 days on the newest event for a month, and the real refund after it
    "late" (found from outside)."""
    return min(event.occurred_at, received_at)


def merge_fields(ret: ReturnView, event: ReturnEvent, *, reference_mode: str,
                 now: datetime, received_at: datetime | None = None) -> ReturnView:
    """``ret`` with ``event``'s fields merged in; ``reference_mode`` is the source's
    ``customer_reference`` setting; ``received_at``: when the hub received the event (default
    ``now``)."""
    merged = replace(ret, updated_at=now)
    happened = counted_at(event, received_at or now)
    newer = ret.last_event_at is None or happened >= ret.last_event_at

    def put(attr: str, value: Any) -> None:
        if value is not None and (newer or getattr(merged, attr) is None):
            setattr(merged, attr, value)

    put("order_ref", event.order_id)
    put("order_number", event.order_number)
    # What the customer calls the return is the reporting system's own to change: another
    # system only names a return that has no name yet. Found from outside: an ERP's record
    # renamed the Shopify return "#1001-R1" "RMA-7" between two emails to the customer.
    if event.source == ret.source or merged.customer_reference is None:
        put("customer_reference", pick_reference(event, reference_mode))
    put("reason", event.reason)
    if event.order_total:
        put("order_total", event.order_total.amount)
        put("currency", event.order_total.currency)
    if event.refund_amount:
        put("refund_amount", event.refund_amount.amount)
        put("currency", event.refund_amount.currency)
    put("refund_method", event.refund_method)
    if event.tracking:
        put("carrier", event.tracking.carrier)
        put("tracking_number", event.tracking.number)
        put("tracking_url", event.tracking.url)
        put("label_url", event.tracking.label_url)
    region = next((str(event.extra[k]).strip().upper() for k in REGION_KEYS
                   if isinstance(event.extra.get(k), str) and event.extra[k].strip()), None)
    found = details_from_event(event)  # drop-off codes, dates, notes for the templates
    if region:  # what region-limited admin tokens are checked against
        found["region"] = region
    if (event.items and (newer or ret.details is None)) or found:
        details = dict(ret.details or {})
        if event.items and (newer or "items" not in details):
            details["items"] = [item.model_dump(mode="json") for item in event.items]
        for key, value in found.items():
            if newer or key not in details:
                details[key] = value
        merged.details = details
    if newer:
        merged.last_event_at = happened
    return merged


def tracking_numbers(before: ReturnView, after: ReturnView, event: ReturnEvent) -> set[str]:
    """The tracking numbers an event makes known (parked carrier scans may now apply), in
    the form parked scans are stored in (:func:`hub.identity.tracking_key`)."""
    found = set()
    if after.tracking_number and after.tracking_number != before.tracking_number:
        found.add(tracking_key(after.tracking_number))
    if event.return_id and event.tracking and event.tracking.number:
        found.add(tracking_key(event.tracking.number))  # linked: a late event keeps the column
    return found - {None}
