"""AfterShip Tracking webhook verification: ``aftership-hmac-sha256`` = base64 HMAC-SHA256."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from hub.contract import SignatureError, b64_hmac_matches, hmac_digest

if TYPE_CHECKING:
    from hub.contract import InboundRequest
    from returnhub_aftership.config import AfterShipSettings

HEADER = "aftership-hmac-sha256"


def verify_webhook(request: InboundRequest, settings: AfterShipSettings) -> None:
    """Raise :class:`SignatureError` unless the header is the base64 HMAC-SHA256 of the raw
    body under the current or previous secret (compared in constant time)."""
    value = request.headers.get(HEADER)
    if not value:
        raise SignatureError(f"the {HEADER} header is missing")
    matches = [b64_hmac_matches(key, request.body, value) for key in settings.secrets()]
    if not any(matches):
        raise SignatureError(f"the {HEADER} header does not match the body")


def sign_headers(body: bytes, settings: AfterShipSettings) -> dict[str, str]:
    """The headers AfterShip would send with ``body``, signed with the current secret."""
    digest = hmac_digest(settings.secrets()[0], body)
    return {"Content-Type": "application/json", HEADER: base64.b64encode(digest).decode()}
