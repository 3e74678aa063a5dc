"""The context a message template sees: the return, the customer's greeting, the brand."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hub.config import BrandSettings
    from hub.store.codec import EventCodec
    from hub.store.models import Customer, Notification, Return


def first_name(full_name: str | None) -> str | None:
    """The first word of a name, for a greeting."""
    return full_name.split()[0] if full_name and full_name.split() else None


def build_context(*, notification: Notification, ret: Return, customer: Customer | None,
                  brand: BrandSettings, codec: EventCodec, portal_url: str | None = None
                  ) -> dict[str, Any]:
    """Everything a template may use. Money stays a number plus currency so templates format it
    per locale with the ``money`` filter."""
    cipher = codec.cipher
    name = cipher.decrypt(customer.name_enc) if customer else None
    details = codec.decode_json(ret.details_enc) or {}
    return {
        "stage": notification.stage,
        "channel": notification.channel,
        "locale": notification.locale or "en",
        "message_id": notification.id,
        "brand": brand.model_dump(),
        "customer": {"name": name, "first_name": first_name(name)},
        "return": {
            "reference": ret.external_id,
            "order_number": ret.order_number,
            "state": ret.state,
            "reason": ret.reason,
            "currency": ret.currency,
            "order_total": ret.order_total,
            "refund_amount": ret.refund_amount,
            "refund_method": ret.refund_method,
            "carrier": ret.carrier,
            "tracking_number": ret.tracking_number,
            "tracking_url": ret.tracking_url,
            "label_url": ret.label_url,
            "items": details.get("items", []),
        },
        "portal_url": portal_url,
    }
