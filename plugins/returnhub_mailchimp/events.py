"""Mandrill's ``mandrill_events`` batches, as the hub's status updates."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from hub.contract import (
    DeliveryStatus,
    RequestRejected,
    StatusUpdate,
    event_time,
    hashed_event_id,
    optional_text,
    parse_batch,
    reason_text,
)
from returnhub_mailchimp.payload import MESSAGE_ID_KEY

if TYPE_CHECKING:
    from datetime import datetime

#: Mandrill message event → hub status. Sync events (no ``event`` key), ``inbound`` and new
#: types are ignored.
EVENT_STATUS: dict[str, DeliveryStatus] = {
    "send": DeliveryStatus.ACCEPTED,
    "deferral": DeliveryStatus.DEFERRED,
    "soft_bounce": DeliveryStatus.DEFERRED,
    "hard_bounce": DeliveryStatus.BOUNCED,
    "reject": DeliveryStatus.FAILED,
    "spam": DeliveryStatus.COMPLAINED,
    "unsub": DeliveryStatus.UNSUBSCRIBED,
    "open": DeliveryStatus.OPENED,
    "click": DeliveryStatus.CLICKED,
    "delivered": DeliveryStatus.DELIVERED,
}


def event_id(event: dict[str, Any]) -> str:
    """A stable id for an event (Mandrill sends none): the hash of message id, event, time and,
    for clicks, the URL, so a redelivered batch dedupes."""
    return hashed_event_id("mandrill:", event.get("_id") or (event.get("msg") or {}).get("_id"),
                           event["event"], event.get("ts"), event.get("url") or "")


def _reason(event: dict[str, Any], msg: dict[str, Any]) -> str:
    name = event["event"]
    if name in ("hard_bounce", "soft_bounce"):
        text = " ".join(str(msg[k]) for k in ("bounce_description", "diag") if msg.get(k))
    elif name == "deferral":
        smtp_events = msg.get("smtp_events") or []
        last = smtp_events[-1] if smtp_events and isinstance(smtp_events[-1], dict) else {}
        text = str(last.get("diag") or "")
    elif name == "reject":
        text = str(msg.get("reject_reason") or msg.get("state") or "rejected")
    else:
        text = ""
    return reason_text(text)


def read_event(event: dict[str, Any], received_at: datetime) -> StatusUpdate | None:
    """One message event as a status update; None for sync, inbound and unknown events and
    for events that name no message."""
    status = EVENT_STATUS.get(event.get("event"))  # type: ignore[arg-type]
    if status is None:
        return None
    msg = event.get("msg") if isinstance(event.get("msg"), dict) else {}
    metadata = msg.get("metadata") if isinstance(msg.get("metadata"), dict) else {}
    message_id = optional_text(metadata.get(MESSAGE_ID_KEY))
    provider_id = optional_text(event.get("_id") or msg.get("_id"))
    if message_id is None and provider_id is None:
        return None
    return StatusUpdate(status=status, occurred_at=event_time(event.get("ts"), received_at),
                        message_id=message_id, provider_message_id=provider_id,
                        event_id=event_id(event), reason=_reason(event, msg), raw=event)


def parse_events(mandrill_events: str | None, received_at: datetime, provider: str = ""
                 ) -> list[StatusUpdate]:
    """Normalize the ``mandrill_events`` form field (a JSON array)."""
    if mandrill_events is None:
        raise RequestRejected("the form field mandrill_events is missing", field="mandrill_events",
                              status=400)
    try:
        batch = orjson.loads(mandrill_events)
    except orjson.JSONDecodeError:
        raise RequestRejected("mandrill_events is not JSON", field="mandrill_events",
                              status=400) from None
    return parse_batch(batch, lambda event: read_event(event, received_at),
                       field="mandrill_events", provider=provider)
