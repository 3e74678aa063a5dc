"""Sign test webhook requests the way each platform does, as :class:`InboundRequest` objects.

For the hub's own tests and for plugin authors: each ``*_webhook`` function returns the request
a source's ``verify``/``parse`` receive, signed as the platform signs it. Pass ``bytes`` as the
payload to send an exact body (a tampered or non-JSON one); anything else is JSON-encoded.

Schemes (see docs/sources.md):

- Shopify: ``X-Shopify-Hmac-Sha256`` = base64 HMAC-SHA256 of the raw body (app secret).
- EasyPost: ``X-Hmac-Signature`` = ``hmac-sha256-hex=`` + hex HMAC-SHA256 of the raw body,
  keyed with the NFKD-normalized webhook secret.
- AfterShip Tracking: ``aftership-hmac-sha256`` = base64 HMAC-SHA256 of the raw body.
- Shippo: a ``?token=`` in the URL and/or ``Shippo-Auth-Signature: t=<unix>,v1=<hex>``, the hex
  HMAC-SHA256 of ``"<t>.<raw body>"``.
- ERP (generic): hex or base64 HMAC-SHA256 of the raw body in a configurable header.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import unicodedata
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from multidict import CIMultiDict, CIMultiDictProxy

from hub.connectors import InboundRequest
from hub.jsonutil import dumps

#: Where test requests pretend to have been posted.
DEFAULT_URL = "https://hub.example.test/webhooks/test"


def body_bytes(payload: Any) -> bytes:
    """``payload`` itself if it is bytes, else its compact JSON encoding."""
    return payload if isinstance(payload, bytes) else dumps(payload)


def hmac_sha256(secret: str | bytes, message: bytes) -> bytes:
    """Raw HMAC-SHA256 of ``message``."""
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, message, hashlib.sha256).digest()


def shopify_hmac(secret: str, body: bytes) -> str:
    """The X-Shopify-Hmac-Sha256 value for ``body``."""
    return base64.b64encode(hmac_sha256(secret, body)).decode()


def easypost_signature(secret: str, body: bytes) -> str:
    """The X-Hmac-Signature value for ``body`` (secret NFKD-normalized, as EasyPost does)."""
    key = unicodedata.normalize("NFKD", secret).encode()
    return "hmac-sha256-hex=" + hmac_sha256(key, body).hex()


def aftership_signature(secret: str, body: bytes) -> str:
    """The aftership-hmac-sha256 value for ``body``."""
    return base64.b64encode(hmac_sha256(secret, body)).decode()


def shippo_signature(secret: str, body: bytes, timestamp: int) -> str:
    """The Shippo-Auth-Signature value for ``body`` sent at Unix time ``timestamp``."""
    digest = hmac_sha256(secret, str(timestamp).encode() + b"." + body).hex()
    return f"t={timestamp},v1={digest}"


def erp_signature(secret: str, body: bytes, *, encoding: str = "hex", prefix: str = "") -> str:
    """An ERP-style signature: ``prefix`` + hex or base64 HMAC-SHA256 of ``body``."""
    digest = hmac_sha256(secret, body)
    value = digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()
    return prefix + value


def inbound_request(body: bytes, headers: Mapping[str, str] | None = None, *,
                    query: Mapping[str, str] | None = None, url: str = DEFAULT_URL,
                    received_at: datetime | None = None) -> InboundRequest:
    """A POST as the hub's ingress hands it to a source (case-insensitive headers)."""
    query = dict(query or {})
    full_url = f"{url}?{urlencode(query, errors='surrogatepass')}" if query else url
    return InboundRequest(
        method="POST", url=full_url, path=urlsplit(url).path or "/",
        headers=CIMultiDictProxy(CIMultiDict(headers or {})), query=query, body=body,
        received_at=received_at or datetime.now(UTC), remote="127.0.0.1",
    )


def shopify_webhook(topic: str, payload: Any, *, secret: str, shop_domain: str,
                    webhook_id: str | None = None, event_id: str | None = None,
                    triggered_at: str | None = None, api_version: str = "2025-10",
                    url: str = DEFAULT_URL, **extra_headers: str) -> InboundRequest:
    """A Shopify webhook delivery with the headers Shopify sends, signed with ``secret``."""
    body = body_bytes(payload)
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": shopify_hmac(secret, body),
        "X-Shopify-Shop-Domain": shop_domain,
        "X-Shopify-API-Version": api_version,
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Shopify-Event-Id": event_id or str(uuid.uuid4()),
        "X-Shopify-Triggered-At": triggered_at or datetime.now(UTC).isoformat(),
        **extra_headers,
    }
    return inbound_request(body, headers, url=url)


def easypost_webhook(payload: Any, *, secret: str, url: str = DEFAULT_URL) -> InboundRequest:
    """An EasyPost event delivery signed with the webhook secret."""
    body = body_bytes(payload)
    return inbound_request(body, {"Content-Type": "application/json",
                                  "X-Hmac-Signature": easypost_signature(secret, body)}, url=url)


def aftership_webhook(payload: Any, *, secret: str, url: str = DEFAULT_URL) -> InboundRequest:
    """An AfterShip Tracking webhook signed with the webhook secret."""
    body = body_bytes(payload)
    return inbound_request(body, {"Content-Type": "application/json",
                                  "aftership-hmac-sha256": aftership_signature(secret, body)},
                           url=url)


def shippo_webhook(payload: Any, *, token: str | None = None, hmac_secret: str | None = None,
                   timestamp: int | None = None, url: str = DEFAULT_URL,
                   received_at: datetime | None = None) -> InboundRequest:
    """A Shippo webhook with the URL token and/or the opt-in Shippo-Auth-Signature."""
    body = body_bytes(payload)
    received_at = received_at or datetime.now(UTC)
    headers = {"Content-Type": "application/json"}
    if hmac_secret is not None:
        sent_at = int(received_at.timestamp()) if timestamp is None else timestamp
        headers["Shippo-Auth-Signature"] = shippo_signature(hmac_secret, body, sent_at)
    query = {"token": token} if token is not None else None
    return inbound_request(body, headers, query=query, url=url, received_at=received_at)


def erp_webhook(payload: Any, *, secret: str, header: str = "X-Signature",
                encoding: str = "hex", prefix: str = "", url: str = DEFAULT_URL) -> InboundRequest:
    """An ERP webhook signed with HMAC-SHA256 of the raw body in ``header``."""
    body = body_bytes(payload)
    return inbound_request(body, {"Content-Type": "application/json",
                                  header: erp_signature(secret, body, encoding=encoding,
                                                        prefix=prefix)}, url=url)
