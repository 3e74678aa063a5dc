"""What an event adds to its return's stored details for the templates (drop-off codes,
decline notes, carrier exceptions, exchange shipments): plain data the applier merges."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hub.events import ReturnEvent


#: Keys of ``ReturnEvent.extra`` carrying the carrier's words about an exception, in order.
_EXCEPTION_MESSAGE_KEYS = ("subtag_message", "status_details", "status_detail", "description",
                           "message")


def _text(value: Any) -> str | None:
    return str(value)[:500] if value not in (None, "") else None


def details_from_event(event: ReturnEvent) -> dict[str, Any]:
    """What ``event`` adds to its return's stored details (``hub.content.context.DETAIL_KEYS``,
    except ``items``) for templates, as JSON-ready values.

    Sources put a drop-off code in ``extra``: ``dropoff_code``, ``dropoff_url``,
    ``dropoff_expires_at`` (ISO 8601); an exchange shipment as ``exchange_carrier``,
    ``exchange_tracking_number``, ``exchange_tracking_url``, ``exchange_order_number``."""
    extra = event.extra or {}
    found: dict[str, Any] = {}
    if event.tracking is not None and event.tracking.estimated_delivery is not None:
        found["estimated_delivery"] = event.tracking.estimated_delivery.isoformat()
    if extra.get("dropoff_code") or extra.get("dropoff_url"):
        found["dropoff"] = {"code": _text(extra.get("dropoff_code")),
                            "url": _text(extra.get("dropoff_url")),
                            "expires_at": _text(extra.get("dropoff_expires_at"))}
    if extra.get("decline_note"):
        found["decline_note"] = _text(extra["decline_note"])
    if event.type.value == "return.shipment_exception":
        found["exception"] = {
            "status": _text(extra.get("carrier_status") or extra.get("subtag")),
            "message": _text(next((extra[k] for k in _EXCEPTION_MESSAGE_KEYS if extra.get(k)),
                                  None))}
    exchange = {key: _text(extra.get(f"exchange_{key}"))
                for key in ("carrier", "tracking_number", "tracking_url", "order_number")}
    if any(exchange.values()):
        found["exchange"] = exchange
    return found
