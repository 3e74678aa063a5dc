"""Realistic sample data for previews and ``returnhub check``: one context per stage, channel,
locale and store, built by the same :func:`~hub.content.context.make_context` as real messages.

Two variants: ``"full"`` has every optional value (tracking, estimated delivery, drop-off code
and QR, refund, exchange, carrier exception, a signed portal link of realistic length), so it
gives the longest SMS, and its items include one with a SKU alone (no name, price or reason),
as some platforms send them; ``"minimal"`` has none of them, so a template that forgets an
``{% if %}`` around an optional value fails.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from babel import Locale
from babel.core import UnknownLocaleError
from babel.numbers import get_territory_currencies

from hub.content.brand import brand_for
from hub.content.context import make_context
from hub.content.locales import language_of, locale_chain
from hub.portal_links import portal_url as signed_portal_url

if TYPE_CHECKING:
    from hub.config import Settings

Variant = Literal["full", "minimal"]
#: The variants :func:`sample_context` knows.
VARIANTS: tuple[Variant, ...] = ("full", "minimal")
#: The source name used for samples when no store is asked for.
SAMPLE_SOURCE = "shop"
#: Languages whose samples use euros when the locale names no territory.
_EURO_LANGUAGES = frozenset({"fr", "de", "es", "it", "nl", "pt", "fi", "el", "sk", "sl", "et"})
_NAMES = {"fr": "Camille Martin", "de": "Lena Schmidt", "es": "Lucía García",
          "it": "Giulia Rossi", "nl": "Sanne de Vries"}


def sample_currency(locale: str | None) -> str:
    """The currency a customer in ``locale`` most likely pays in (USD when unknown)."""
    chain = locale_chain(locale)
    try:
        territory = Locale.parse(chain[0], sep="-").territory if chain else None
    except (UnknownLocaleError, ValueError):
        territory = None
    if territory:
        currencies = get_territory_currencies(territory)
        if currencies:
            return currencies[0]
    return "EUR" if language_of(locale) in _EURO_LANGUAGES else "USD"


def _portal_link(settings: Settings, source: str, reference: str, now: datetime) -> str:
    # A throwaway key: the link has the real format and length but opens nothing.
    key = hashlib.sha256(b"returnhub-sample-portal-key").digest()
    return signed_portal_url(settings.server.base_url(), key, source, reference, now,
                             settings.portal.link_ttl_days)


def sample_context(settings: Settings, stage: str, channel: str, *, locale: str | None = None,
                   brand_source: str | None = None, variant: Variant = "full",
                   now: datetime | None = None) -> dict[str, Any]:
    """A context for ``stage`` on ``channel`` as the store ``brand_source`` (its brand
    override applied) would send it to a customer in ``locale`` (default: the configured
    default locale)."""
    notifications = settings.notifications
    locale = locale or notifications.default_locale
    now = now or datetime.now(UTC)
    source = brand_source or SAMPLE_SOURCE
    currency = sample_currency(locale)
    brand = brand_for(notifications.brand, notifications.brands, brand_source)
    reference = "R-1001"
    full = variant == "full"
    ret = {
        "reference": reference,
        "order_number": "#1001" if full else None,
        "state": "in_transit" if stage == "shipment_exception" else stage,
        "reason": "Too small" if full else None,
        "currency": currency if full else None,
        "order_total": "58.00" if full else None,
        "refund_amount": "29.00" if full else None,
        "refund_method": "original_payment" if full else None,
        "carrier": "UPS" if full else None,
        "tracking_number": "1Z999AA10123456784" if full else None,
        "tracking_url": "https://www.ups.com/track?tracknum=1Z999AA10123456784" if full else None,
        "label_url": f"https://labels.example.com/returns/{reference}/label.pdf" if full else None,
        "exception_flag": stage == "shipment_exception",
    }
    details: dict[str, Any] = {}
    if full:
        details = {
            "items": [
                {"sku": "TEE-BLU-M", "name": "Blue tee, size M", "quantity": 1,
                 "price": {"amount": "29.00", "currency": currency}, "reason": "Too small"},
                {"sku": "SOCK-3PK", "name": "Everyday socks, 3-pack", "quantity": 2,
                 "price": {"amount": "14.50", "currency": currency}, "reason": "Not needed"},
                # An item as some platforms send it: a SKU alone, no name, price or reason
                # (a template that printed every item's price passed the check and failed on
                # such an event; found from outside).
                {"sku": "GIFT-WRAP", "quantity": 1},
            ],
            "estimated_delivery": (now + timedelta(days=3)).isoformat(),
            "dropoff": {"code": "HR7F3K2Q", "url": None,
                        "expires_at": (now + timedelta(days=14)).isoformat()},
            "decline_note": "The return window for this order closed on day 30.",
            "exception": {"status": "return_to_sender", "message": "Address incomplete"},
            "exchange": {"carrier": "DHL", "tracking_number": "JD014600006281230704",
                         "tracking_url": "https://www.dhl.com/track?id=JD014600006281230704",
                         "order_number": "#1002"},
        }
    return make_context(
        stage=stage, channel=channel, locale=locale, message_id="00000000-sample",
        store=source, brand=brand,
        customer_name=_NAMES.get(language_of(locale), "Jane Doe") if full else None,
        ret=ret, details=details,
        portal_url=_portal_link(settings, source, reference, now) if full else None,
        timezone=notifications.default_timezone)
