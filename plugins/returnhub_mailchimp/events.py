"""Mandrill's ``mandrill_events`` batches, as the hub's status updates."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import orjson

from hub.contract import DeliveryStatus, RequestRejected, StatusUpdate, redact_text
from returnhub_mailchimp.payload import MESSAGE_ID_KEY

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
    parts = [str(event.get("_id") or (event.get("msg") or {}).get("_id")), str(event["event"]),
             str(event.get("ts")), str(event.get("url") or "")]
    return "mandrill:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


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
    return redact_text(text)[:300]


def _occurred_at(event: dict[str, Any], fallback: datetime) -> datetime:
    stamp = event.get("ts")
    if isinstance(stamp, int | float) and not isinstance(stamp, bool):
        try:
            return datetime.fromtimestamp(stamp, UTC)
        except (OverflowError, OSError, ValueError):
            return fallback
    return fallback


def parse_events(mandrill_events: str | None, received_at: datetime) -> list[StatusUpdate]:
    """Normalize the ``mandrill_events`` form field (a JSON array)."""
    if mandrill_events is None:
        raise RequestRejected("the form field mandrill_events is missing", field="mandrill_events",
                              status=400)
    try:
        batch = orjson.loads(mandrill_events)
    except orjson.JSONDecodeError:
        raise RequestRejected("mandrill_events is not JSON", field="mandrill_events",
                              status=400) from None
    if not isinstance(batch, list):
        raise RequestRejected("mandrill_events must be a JSON array", field="mandrill_events")
    updates = []
    for index, event in enumerate(batch):
        if not isinstance(event, dict):
            raise RequestRejected("each event must be an object", field=f"mandrill_events[{index}]")
        status = EVENT_STATUS.get(event.get("event"))  # type: ignore[arg-type]
        if status is None:
            continue
        msg = event.get("msg") if isinstance(event.get("msg"), dict) else {}
        metadata = msg.get("metadata") if isinstance(msg.get("metadata"), dict) else {}
        message_id = metadata.get(MESSAGE_ID_KEY)
        message_id = str(message_id) if message_id else None
        provider_id = event.get("_id") or msg.get("_id")
        provider_id = str(provider_id) if provider_id else None
        if message_id is None and provider_id is None:
            continue
        updates.append(StatusUpdate(
            status=status, occurred_at=_occurred_at(event, received_at), message_id=message_id,
            provider_message_id=provider_id, event_id=event_id(event),
            reason=_reason(event, msg), raw=event))
    return updates
