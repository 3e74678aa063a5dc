"""Shippo webhook verification: a URL token and/or ``Shippo-Auth-Signature``.

The signature header, when Shippo has enabled it for the account, reads
``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`` (several ``v1`` entries may be
present; one match is enough). Its timestamp must be within the configured tolerance of the
time the hub received the request, which bounds replays.
"""

from __future__ import annotations

import hmac
import time
from typing import TYPE_CHECKING

from hub.contract import SignatureError, hex_hmac_matches, hmac_digest

if TYPE_CHECKING:
    from hub.contract import InboundRequest
    from returnhub_shippo.config import ShippoSettings

TOKEN_PARAM = "token"  # noqa: S105 - a parameter name, not a secret
HEADER = "Shippo-Auth-Signature"


def _check_token(request: InboundRequest, expected: str) -> None:
    provided = request.query.get(TOKEN_PARAM) or ""
    # Bytes on both sides: compare_digest refuses non-ASCII str, and surrogates must not raise.
    if not hmac.compare_digest(provided.encode("utf-8", "surrogatepass"), expected.encode()):
        raise SignatureError(f"the {TOKEN_PARAM} query parameter is missing or wrong")


def _parse_header(value: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    digests = []
    for part in value.split(","):
        key, sep, item = part.strip().partition("=")
        if not sep:
            raise SignatureError(f"the {HEADER} header is malformed")
        if key == "t":
            if not (item.isascii() and item.isdigit() and len(item) <= 12):
                raise SignatureError(f"the {HEADER} timestamp is malformed")
            timestamp = int(item)
        elif key == "v1":
            digests.append(item)
    if timestamp is None or not digests:
        raise SignatureError(f"the {HEADER} header lacks t= or v1=")
    return timestamp, digests


def _check_signature(request: InboundRequest, secret: str, tolerance: int) -> None:
    value = request.headers.get(HEADER)
    if not value:
        raise SignatureError(f"the {HEADER} header is missing")
    timestamp, digests = _parse_header(value)
    if abs(request.received_at.timestamp() - timestamp) > tolerance:
        raise SignatureError(f"the {HEADER} timestamp is outside the accepted window")
    signed = str(timestamp).encode() + b"." + request.body
    if not any([hex_hmac_matches(secret.encode(), signed, d) for d in digests]):
        raise SignatureError(f"the {HEADER} header does not match the body")


def verify_webhook(request: InboundRequest, settings: ShippoSettings) -> None:
    """Raise :class:`SignatureError` unless every configured mechanism passes."""
    if settings.url_token is not None:
        _check_token(request, settings.url_token.get_secret_value())
    if settings.hmac_secret is not None:
        _check_signature(request, settings.hmac_secret.get_secret_value(),
                         settings.signature_tolerance_seconds)


def sign_headers(body: bytes, settings: ShippoSettings) -> dict[str, str]:
    """Shippo-Auth-Signature for ``body`` when an HMAC secret is configured. A URL token
    cannot travel in a header: add ``?token=...`` to the URL the request is sent to."""
    headers = {"Content-Type": "application/json"}
    if settings.hmac_secret is not None:
        stamp = str(int(time.time()))
        digest = hmac_digest(settings.hmac_secret.get_secret_value().encode(),
                             stamp.encode() + b"." + body).hex()
        headers[HEADER] = f"t={stamp},v1={digest}"
    return headers
