"""Shopify webhook verification: HMAC of the raw body, then the (unsigned) shop domain."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from hub.contract import SignatureError, b64_hmac_matches, hmac_digest

if TYPE_CHECKING:
    from hub.contract import InboundRequest
    from returnhub_shopify.config import ShopifySettings

HMAC_HEADER = "X-Shopify-Hmac-Sha256"
SHOP_HEADER = "X-Shopify-Shop-Domain"


def verify_webhook(request: InboundRequest, settings: ShopifySettings) -> None:
    """Raise :class:`SignatureError` unless the request is a genuine delivery for our shop.

    The HMAC is base64 HMAC-SHA256 of the raw body keyed with the app secret; the current and
    the previous secret are both tried (rotation), each in constant time. The shop-domain header
    is not covered by the HMAC, but an app secret is shared by every shop the app is installed
    on, so a delivery naming another shop is refused too: it was meant for another instance.
    """
    provided = request.headers.get(HMAC_HEADER)
    if not provided:
        raise SignatureError(f"the {HMAC_HEADER} header is missing")
    # Evaluate every key (no short-circuit) so timing does not reveal which secret matched.
    matches = [b64_hmac_matches(key, request.body, provided) for key in settings.secrets()]
    if not any(matches):
        raise SignatureError(f"the {HMAC_HEADER} header does not match the body")
    shop = (request.headers.get(SHOP_HEADER) or "").strip().lower()
    if shop != settings.shop_domain:
        raise SignatureError(f"the {SHOP_HEADER} header does not name the configured shop")


def sign_headers(body: bytes, settings: ShopifySettings, *, topic: str,
                 webhook_id: str) -> dict[str, str]:
    """The headers Shopify would send with ``body``, signed with the current secret."""
    digest = hmac_digest(settings.api_secret.get_secret_value().encode(), body)
    return {
        "Content-Type": "application/json",
        HMAC_HEADER: base64.b64encode(digest).decode(),
        SHOP_HEADER: settings.shop_domain,
        "X-Shopify-Topic": topic,
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-Event-Id": webhook_id,
        "X-Shopify-Triggered-At": datetime.now(UTC).isoformat(),
        "X-Shopify-API-Version": settings.api_version,
    }
