"""ERP webhook verification: HMAC-SHA256 of the raw body, hex or base64, in a set header."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from hub.contract import SignatureError, b64_hmac_matches, hex_hmac_matches, hmac_digest

if TYPE_CHECKING:
    from hub.contract import InboundRequest
    from returnhub_erp.config import ErpSettings


def verify_webhook(request: InboundRequest, settings: ErpSettings) -> None:
    """Raise :class:`SignatureError` unless the configured header carries the HMAC-SHA256 of
    the raw body under the current or previous secret (compared in constant time)."""
    keys = settings.secrets()
    if not keys:
        raise SignatureError("webhooks are disabled for this source (no webhook_secret)")
    header = settings.signature_header
    value = (request.headers.get(header) or "").strip()
    if not value:
        raise SignatureError(f"the {header} header is missing")
    prefix = settings.signature_prefix
    if prefix:
        if not value.lower().startswith(prefix.lower()):
            raise SignatureError(f"the {header} header does not start with {prefix}")
        value = value[len(prefix):]
    matches_digest = hex_hmac_matches if settings.signature_encoding == "hex" else b64_hmac_matches
    if not any([matches_digest(key, request.body, value) for key in keys]):
        raise SignatureError(f"the {header} header does not match the body")


def sign_headers(body: bytes, settings: ErpSettings) -> dict[str, str]:
    """The signature header for ``body`` under the current secret, as configured."""
    keys = settings.secrets()
    if not keys:
        raise NotImplementedError("this ERP source has no webhook_secret to sign with")
    digest = hmac_digest(keys[0], body)
    value = digest.hex() if settings.signature_encoding == "hex" else base64.b64encode(
        digest).decode()
    return {"Content-Type": "application/json",
            settings.signature_header: settings.signature_prefix + value}
