"""SendGrid Event Webhook batches, as the hub's status updates."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import orjson

from hub.contract import DeliveryStatus, RequestRejected, StatusUpdate, redact_text
from returnhub_sendgrid.payload import MESSAGE_ID_ARG

#: SendGrid event name → hub status. Others (``group_resubscribe``, new types) are ignored.
EVENT_STATUS: dict[str, DeliveryStatus] = {
    "processed": DeliveryStatus.ACCEPTED,
    "delivered": DeliveryStatus.DELIVERED,
    "deferred": DeliveryStatus.DEFERRED,
    "bounce": DeliveryStatus.BOUNCED,
    "dropped": DeliveryStatus.FAILED,
    "spamreport": DeliveryStatus.COMPLAINED,
    "unsubscribe": DeliveryStatus.UNSUBSCRIBED,
    "group_unsubscribe": DeliveryStatus.UNSUBSCRIBED,
    "open": DeliveryStatus.OPENED,
    "click": DeliveryStatus.CLICKED,
}


def provider_message_id(event: dict[str, Any]) -> str | None:
    """The X-Message-Id the send answered with: ``sg_message_id`` up to its first dot, else
    the local part of ``smtp-id``. Asynchronous bounces carry neither."""
    sg_message_id = event.get("sg_message_id")
    if isinstance(sg_message_id, str) and sg_message_id:
        return sg_message_id.split(".", 1)[0]
    smtp_id = event.get("smtp-id")
    if isinstance(smtp_id, str) and "@" in smtp_id:
        return smtp_id.strip("<>").split("@", 1)[0] or None
    return None


def _reason(event: dict[str, Any]) -> str:
    name = event.get("event")
    if name == "bounce":
        parts = [str(event.get(key)) for key in ("type", "status") if event.get(key)]
        text = f"{' '.join(parts)}: {event.get('reason', '')}" if parts else event.get("reason")
    elif name == "dropped":
        text = event.get("reason")
    elif name in ("deferred", "delivered"):
        text = event.get("response")
    else:
        text = None
    return redact_text(str(text))[:300] if text else ""


def _occurred_at(event: dict[str, Any], fallback: datetime) -> datetime:
    stamp = event.get("timestamp")
    if isinstance(stamp, int | float) and not isinstance(stamp, bool):
        try:
            return datetime.fromtimestamp(stamp, UTC)
        except (OverflowError, OSError, ValueError):
            return fallback
    return fallback


def parse_events(batch: Any, received_at: datetime) -> list[StatusUpdate]:
    """Normalize a decoded Event Webhook batch (a JSON array of event objects).

    ``event_id`` is SendGrid's ``sg_event_id`` (or, when absent, a hash of the event so a
    repeated delivery still dedupes); events that name no message are skipped.
    """
    if not isinstance(batch, list):
        raise RequestRejected("the Event Webhook body must be a JSON array", field="body")
    updates = []
    for index, event in enumerate(batch):
        if not isinstance(event, dict):
            raise RequestRejected("each event must be an object", field=f"[{index}]")
        status = EVENT_STATUS.get(event.get("event"))  # type: ignore[arg-type]
        if status is None:
            continue
        message_id = event.get(MESSAGE_ID_ARG)
        message_id = message_id if isinstance(message_id, str) and message_id else None
        provider_id = provider_message_id(event)
        if message_id is None and provider_id is None:
            continue
        event_id = event.get("sg_event_id")
        if not isinstance(event_id, str) or not event_id:
            event_id = "sha256:" + hashlib.sha256(
                orjson.dumps(event, option=orjson.OPT_SORT_KEYS)).hexdigest()
        updates.append(StatusUpdate(
            status=status, occurred_at=_occurred_at(event, received_at), message_id=message_id,
            provider_message_id=provider_id, event_id=event_id, reason=_reason(event), raw=event))
    return updates
