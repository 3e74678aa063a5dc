"""SendGrid Event Webhook batches, as the hub's status updates."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hub.contract import (
    DeliveryStatus,
    StatusUpdate,
    event_time,
    hashed_event_id,
    parse_batch,
    reason_text,
)
from returnhub_sendgrid.payload import MESSAGE_ID_ARG

if TYPE_CHECKING:
    from datetime import datetime

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
    return reason_text(text)


def read_event(event: dict[str, Any], received_at: datetime) -> StatusUpdate | None:
    """One event as a status update; None for events the hub does not record and for events
    that name no message (asynchronous bounces)."""
    status = EVENT_STATUS.get(event.get("event"))  # type: ignore[arg-type]
    if status is None:
        return None
    message_id = event.get(MESSAGE_ID_ARG)
    message_id = message_id if isinstance(message_id, str) and message_id else None
    provider_id = provider_message_id(event)
    if message_id is None and provider_id is None:
        return None
    event_id = event.get("sg_event_id")
    if not isinstance(event_id, str) or not event_id:
        event_id = hashed_event_id("sha256:", event)  # a repeated delivery still dedupes
    return StatusUpdate(status=status, occurred_at=event_time(event.get("timestamp"), received_at),
                        message_id=message_id, provider_message_id=provider_id,
                        event_id=event_id, reason=_reason(event), raw=event)


def parse_events(batch: Any, received_at: datetime, provider: str = "") -> list[StatusUpdate]:
    """Normalize a decoded Event Webhook batch (a JSON array of event objects); ``event_id`` is
    SendGrid's ``sg_event_id``, or a hash of the event when it has none."""
    return parse_batch(batch, lambda event: read_event(event, received_at), provider=provider)
