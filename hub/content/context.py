"""The shape of the context every template sees, built in one place.

:func:`build_context` (real messages, from the database rows) and :mod:`hub.content.samples`
(previews and checks) both call :func:`make_context`, so a template that renders in a preview
sees exactly the keys it will see in production. Every key is documented in
``docs/templates.md``; optional values are ``None`` (never missing), so
``{% if tracking.url %}`` is how a template tests for one.

Text that comes from customers or sources is cleaned (:func:`~hub.content.text.clean_text`:
no bidi or control characters) and links are kept only when they are http(s).

A return's encrypted ``details_enc`` JSON holds ``items`` and, when the applier stores them,
``estimated_delivery``, ``dropoff`` (``code``, ``url``, ``expires_at``), ``decline_note``,
``exception`` (``status``, ``message``) and ``exchange`` (``carrier``, ``tracking_number``,
``tracking_url``, ``order_number``); see ``docs/templates.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Protocol

from hub.content.locales import language_of
from hub.content.qr import qr_context
from hub.content.text import clean_text, safe_url
from hub.domain.timing import customer_zone
from hub.formatting import as_date

if TYPE_CHECKING:
    from hub.config import BrandSettings


class Codec(Protocol):
    """Reads the encrypted columns a context needs (:class:`hub.store.codec.EventCodec`)."""

    @property
    def cipher(self) -> Any:
        """The PII cipher (``decrypt(token) -> str | None``)."""

    def decode_json(self, token: bytes | None) -> Any:
        """The decrypted JSON value of ``token`` (None for None)."""

    def holding(self, plaintexts: Mapping[bytes, bytes]) -> Codec:
        """This codec, opening the tokens of ``plaintexts`` without decrypting them."""

#: Fields of ``return`` taken as they are from the return row (plus ``items`` and the notes).
RETURN_FIELDS = ("reference", "customer_reference", "order_number", "state", "reason",
                 "currency", "order_total", "refund_amount", "refund_method", "carrier",
                 "tracking_number", "tracking_url", "label_url", "exception_flag")
#: Keys of a return's stored details (``returns.details_enc``) that templates use.
DETAIL_KEYS = ("items", "estimated_delivery", "dropoff", "decline_note", "exception",
               "exchange")
#: Return row attributes by context name (the rest share their name).
_COLUMNS = {"reference": "external_id"}


def first_name(full_name: str | None) -> str | None:
    """The first word of a name, for a greeting."""
    return full_name.split()[0] if full_name and full_name.split() else None


def _amount(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _item(raw: Mapping[str, Any]) -> dict[str, Any]:
    price = raw.get("price") if isinstance(raw.get("price"), Mapping) else None
    return {
        "sku": clean_text(raw.get("sku")),
        "name": clean_text(raw.get("name")),
        "quantity": raw.get("quantity") if isinstance(raw.get("quantity"), int) else 1,
        "price": {"amount": _amount(price.get("amount")), "currency": price.get("currency")}
        if price else None,
        "reason": clean_text(raw.get("reason")),
        "category": clean_text(raw.get("category")),
    }


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def make_context(*, stage: str, channel: str, locale: str | None, message_id: str,
                 store: str | None, brand: BrandSettings, customer_name: str | None,
                 ret: Mapping[str, Any], details: Mapping[str, Any] | None,
                 portal_url: str | None, category: str = "transactional",
                 unsubscribe_url: str | None = None,
                 brand_values: dict[str, Any] | None = None,
                 timezone: str | None = None) -> dict[str, Any]:
    """The template context. ``ret`` holds :data:`RETURN_FIELDS`; ``details`` is the return's
    decrypted details (:data:`DETAIL_KEYS`, all optional). Money stays a number plus a
    currency so templates format it per locale with the ``money`` filter. ``brand_values``:
    ``brand.model_dump()`` already made (a caller rendering many messages in one brand).
    ``timezone``: the customer's (an IANA name), in which the ``date`` filter tells the day."""
    details = details or {}
    name = clean_text(customer_name)
    # What the customer knows the return by (Shopify's #1001-R1, an RMA number), else the id.
    reference = clean_text(ret.get("customer_reference")) or clean_text(ret.get("reference")) \
        or ""
    label_url = safe_url(ret.get("label_url"))
    tracking_url = safe_url(ret.get("tracking_url"))
    dropoff_raw = _mapping(details.get("dropoff"))
    dropoff_code = clean_text(dropoff_raw.get("code"))
    dropoff_url = safe_url(dropoff_raw.get("url"))
    dropoff = {"code": dropoff_code, "url": dropoff_url,
               "expires_at": as_date(dropoff_raw.get("expires_at"))} \
        if dropoff_code or dropoff_url else None
    exchange_raw = _mapping(details.get("exchange"))
    exchange = {
        "carrier": clean_text(exchange_raw.get("carrier")),
        "tracking_number": clean_text(exchange_raw.get("tracking_number")),
        "tracking_url": safe_url(exchange_raw.get("tracking_url")),
        "order_number": clean_text(exchange_raw.get("order_number")),
    } if exchange_raw else None
    exception_raw = _mapping(details.get("exception"))
    exception = {"status": clean_text(exception_raw.get("status")),
                 "message": clean_text(exception_raw.get("message"))} if exception_raw else None
    items = [_item(i) for i in details.get("items") or [] if isinstance(i, Mapping)]
    return {
        "stage": stage,
        "channel": channel,
        #: Promotional messages show the brand's postal address and the unsubscribe link.
        "category": category,
        "unsubscribe_url": unsubscribe_url,
        "locale": locale or "en",
        "language": language_of(locale),
        "timezone": timezone,
        "message_id": message_id,
        "store": store,
        "brand": dict(brand_values) if brand_values is not None else brand.model_dump(),
        "customer": {"name": name, "first_name": first_name(name)},
        "return": {
            "reference": reference,
            "order_number": clean_text(ret.get("order_number")),
            "state": ret.get("state"),
            "reason": clean_text(ret.get("reason")),
            "decline_note": clean_text(details.get("decline_note")),
            "currency": ret.get("currency"),
            "order_total": _amount(ret.get("order_total")),
            "refund_amount": _amount(ret.get("refund_amount")),
            "refund_method": clean_text(ret.get("refund_method")),
            "carrier": clean_text(ret.get("carrier")),
            "tracking_number": clean_text(ret.get("tracking_number")),
            "tracking_url": tracking_url,
            "label_url": label_url,
            "exception_flag": bool(ret.get("exception_flag")),
            "items": items,
        },
        "tracking": {
            "carrier": clean_text(ret.get("carrier")),
            "number": clean_text(ret.get("tracking_number")),
            "url": tracking_url,
            "label_url": label_url,
            "estimated_delivery": as_date(details.get("estimated_delivery")),
        },
        "dropoff": dropoff,
        "qr": qr_context(dropoff_code=dropoff_code, dropoff_url=dropoff_url,
                         label_url=label_url, portal_url=safe_url(portal_url),
                         with_image=channel == "email"),
        "exchange": exchange,
        "exception": exception,
        "portal_url": safe_url(portal_url),
    }


def build_context(*, notification: Any, ret: Any, customer: Any | None, brand: BrandSettings,
                  codec: Codec, portal_url: str | None = None,
                  unsubscribe_url: str | None = None,
                  brand_values: dict[str, Any] | None = None,
                  default_timezone: str = "UTC") -> dict[str, Any]:
    """Everything a template may use, from a notification's, its return's and its customer's
    rows (ORM entities or snapshots). ``brand`` is the store's merged brand
    (:func:`hub.content.brand.brand_for`); ``default_timezone`` that of customers whose
    platform gave none."""
    name = codec.cipher.decrypt(customer.name_enc) if customer else None
    details = codec.decode_json(ret.details_enc) or {}
    fields = {field: getattr(ret, _COLUMNS.get(field, field), None) for field in RETURN_FIELDS}
    return make_context(
        stage=notification.stage, channel=notification.channel, locale=notification.locale,
        message_id=notification.id, store=ret.source, brand=brand, customer_name=name,
        ret=fields, details=details if isinstance(details, dict) else {},
        portal_url=portal_url, category=getattr(notification, "category", None) or
        "transactional", unsubscribe_url=unsubscribe_url, brand_values=brand_values,
        timezone=customer_zone(getattr(customer, "timezone", None), default_timezone).key)
