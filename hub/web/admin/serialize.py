"""Rows to response models (masked where the admin view shows contact details)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from hub.web.admin.masking import mask_recipient
from hub.web.admin.schemas import (
    AttemptOut,
    InboxEventOut,
    NotificationDetail,
    NotificationOut,
    ReceiptOut,
    ReturnDetail,
    ReturnItemOut,
    ReturnSummary,
    TimelineItem,
)

if TYPE_CHECKING:
    from hub.security import PiiCipher
    from hub.store.codec import EventCodec
    from hub.store.models import (
        DeliveryAttempt,
        DeliveryReceipt,
        InboxEvent,
        Notification,
        Return,
        TimelineEntry,
    )
    from hub.web.admin.scoping import Facets


def decimal_text(value: Any) -> str | None:
    """A stored amount as a decimal string (never a float)."""
    if value is None:
        return None
    return format(Decimal(str(value)).normalize(), "f") if not isinstance(value, str) else value


def return_summary(ret: Return, facets: Facets) -> ReturnSummary:
    """A return's summary."""
    return ReturnSummary(**_return_fields(ret, facets))


def _return_fields(ret: Return, facets: Facets) -> dict[str, Any]:
    return {
        "id": ret.id, "source": ret.source, "reference": ret.external_id,
        "order_number": ret.order_number, "state": ret.state, "cycle": ret.cycle,
        "exception_flag": ret.exception_flag, "reason": ret.reason, "currency": ret.currency,
        "order_total": decimal_text(ret.order_total),
        "refund_amount": decimal_text(ret.refund_amount), "refund_method": ret.refund_method,
        "carrier": ret.carrier, "tracking_number": ret.tracking_number,
        "tracking_url": ret.tracking_url, "region": facets.region,
        "categories": list(facets.categories), "created_at": ret.created_at,
        "updated_at": ret.updated_at, "last_event_at": ret.last_event_at,
    }


def return_detail(ret: Return, facets: Facets, codec: EventCodec) -> ReturnDetail:
    """A return with its items."""
    details = codec.decode_json(ret.details_enc) or {}
    items = [ReturnItemOut(**{k: item.get(k) for k in ReturnItemOut.model_fields})
             for item in details.get("items", []) if isinstance(item, dict)]
    return ReturnDetail(**_return_fields(ret, facets), customer_id=ret.customer_id, items=items)


def timeline_item(entry: TimelineEntry) -> TimelineItem:
    """A timeline entry."""
    return TimelineItem.model_validate(entry)


def inbox_event(row: InboxEvent) -> InboxEventOut:
    """An inbox row, without its payload."""
    return InboxEventOut.model_validate(row)


def notification(row: Notification, cipher: PiiCipher) -> NotificationOut:
    """A notification, recipient masked."""
    return NotificationOut(**_notification_fields(row, cipher))


def _notification_fields(row: Notification, cipher: PiiCipher) -> dict[str, Any]:
    try:
        recipient = cipher.decrypt(row.recipient_enc)
    except ValueError:
        recipient = None
    return {
        "id": row.id, "return_id": row.return_id, "stage": row.stage, "channel": row.channel,
        "template": row.template, "locale": row.locale,
        "recipient": mask_recipient(row.channel, recipient), "status": row.status,
        "attempts": row.attempts, "provider": row.provider,
        "provider_message_id": row.provider_message_id, "last_error": row.last_error,
        "tried_providers": list(row.tried_providers or []), "fallback_of": row.fallback_of,
        "event_received_at": row.event_received_at, "created_at": row.created_at,
        "next_attempt_at": row.next_attempt_at, "sent_at": row.sent_at,
        "delivered_at": row.delivered_at, "expires_at": row.expires_at,
    }


def notification_detail(row: Notification, cipher: PiiCipher, attempts: list[DeliveryAttempt],
                        receipts: list[DeliveryReceipt]) -> NotificationDetail:
    """A notification with its attempts and receipts."""
    return NotificationDetail(
        **_notification_fields(row, cipher),
        delivery_attempts=[AttemptOut(
            attempt_no=a.attempt_no, provider=a.provider, outcome=a.outcome,
            provider_message_id=a.provider_message_id, error=a.error, started_at=a.started_at,
            duration_ms=float(a.duration_ms)) for a in attempts],
        receipts=[ReceiptOut.model_validate(r) for r in receipts])
