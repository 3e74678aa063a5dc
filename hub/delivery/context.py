"""The context a message template sees, built from a notification and its return's rows.

The shape is defined once in :func:`hub.content.context.make_context` (shared with previews);
this module only reads the database rows and decrypts what is needed.

A return's encrypted ``details_enc`` JSON holds ``items`` and, when the applier stores them,
``estimated_delivery``, ``dropoff`` (``code``, ``url``, ``expires_at``), ``decline_note``,
``exception`` (``status``, ``message``) and ``exchange`` (``carrier``, ``tracking_number``,
``tracking_url``, ``order_number``); see ``docs/templates.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hub.content.context import RETURN_FIELDS, first_name, make_context

if TYPE_CHECKING:
    from hub.config import BrandSettings
    from hub.store.codec import EventCodec
    from hub.store.models import Customer, Notification, Return

__all__ = ["build_context", "first_name"]

#: Return row attributes by context name (the rest share their name).
_COLUMNS = {"reference": "external_id"}


def build_context(*, notification: Notification, ret: Return, customer: Customer | None,
                  brand: BrandSettings, codec: EventCodec, portal_url: str | None = None,
                  unsubscribe_url: str | None = None) -> dict[str, Any]:
    """Everything a template may use. ``brand`` is the store's merged brand
    (:func:`hub.content.brand.brand_for`)."""
    name = codec.cipher.decrypt(customer.name_enc) if customer else None
    details = codec.decode_json(ret.details_enc) or {}
    fields = {field: getattr(ret, _COLUMNS.get(field, field), None) for field in RETURN_FIELDS}
    return make_context(
        stage=notification.stage, channel=notification.channel, locale=notification.locale,
        message_id=notification.id, store=ret.source, brand=brand, customer_name=name,
        ret=fields, details=details if isinstance(details, dict) else {},
        portal_url=portal_url, category=getattr(notification, "category", None) or
        "transactional", unsubscribe_url=unsubscribe_url)
