"""EasyPost webhook verification: ``X-Hmac-Signature: hmac-sha256-hex=<hex digest>``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hub.contract import SignatureError, hex_hmac_matches, hmac_digest

if TYPE_CHECKING:
    from hub.contract import InboundRequest
    from returnhub_easypost.config import EasyPostSettings

HEADER = "X-Hmac-Signature"
PREFIX = "hmac-sha256-hex="


def verify_webhook(request: InboundRequest, settings: EasyPostSettings) -> None:
    """Raise :class:`SignatureError` unless the header is the hex HMAC-SHA256 of the raw body
    under the current or previous webhook secret (compared in constant time)."""
    value = (request.headers.get(HEADER) or "").strip()
    if not value:
        raise SignatureError(f"the {HEADER} header is missing")
    if not value.lower().startswith(PREFIX):
        raise SignatureError(f"the {HEADER} header is not of the form {PREFIX}<hex>")
    digest = value[len(PREFIX):]
    matches = [hex_hmac_matches(key, request.body, digest) for key in settings.secrets()]
    if not any(matches):
        raise SignatureError(f"the {HEADER} header does not match the body")


def sign_headers(body: bytes, settings: EasyPostSettings) -> dict[str, str]:
    """The headers EasyPost would send with ``body``, signed with the current secret."""
    digest = hmac_digest(settings.secrets()[0], body).hex()
    return {"Content-Type": "application/json", HEADER: PREFIX + digest}
