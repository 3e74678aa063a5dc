"""SendGrid answers and transport failures, as the hub's delivery errors.

Texts name the sink, the HTTP status and an excerpt of SendGrid's answer; email addresses and
phone numbers in the excerpt are masked, and the API key never appears.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping

import orjson

from hub.contract import (
    DeliveryError,
    MessageRejected,
    ProviderMisconfigured,
    ProviderUnavailable,
    RateLimited,
    redact_text,
    transport_error,
)

_EXCERPT = 300


def describe_errors(body: bytes) -> tuple[str, list[str]]:
    """An excerpt of a SendGrid error body and the fields it names.

    SendGrid answers ``{"errors": [{"message", "field", "help"}]}``; anything else is shown as
    (shortened) text.
    """
    try:
        parsed = orjson.loads(body)
        errors = parsed["errors"]
        parts, fields = [], []
        for item in errors:
            field = item.get("field")
            if field:
                fields.append(str(field))
            parts.append(f"{field}: {item.get('message')}" if field else str(item.get("message")))
        return redact_text("; ".join(parts))[:_EXCERPT], fields
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        text = body.decode("utf-8", "replace").strip()
        return redact_text(" ".join(text.split()))[:_EXCERPT], []


def _retry_after(headers: Mapping[str, str], now: float) -> float | None:
    reset = headers.get("X-RateLimit-Reset")
    if reset is None:
        return None
    try:
        seconds = float(reset) - now
    except ValueError:
        return None
    return max(0.0, math.ceil(seconds)) if math.isfinite(seconds) else None


def error_for_response(provider: str, status: int, headers: Mapping[str, str], body: bytes,
                       secret: str) -> DeliveryError:
    """The delivery error a non-2xx mail/send answer means."""
    excerpt, fields = describe_errors(body)
    excerpt = excerpt.replace(secret, "[api key]") if secret else excerpt
    common = {"provider": provider, "status": status, "detail": excerpt}
    if status == 429:
        return RateLimited("SendGrid rate limit reached",
                           retry_after=_retry_after(headers, time.time()), **common)
    if status in (401, 403):
        return ProviderMisconfigured("SendGrid refused the API key or the sender identity",
                                     **common)
    if status in (400, 413):
        named = f" ({', '.join(dict.fromkeys(fields))})" if fields else ""
        return MessageRejected(f"SendGrid rejected the message{named}", **common)
    if status >= 500:
        return ProviderUnavailable("SendGrid is unavailable", **common)
    # 404/405/406 and the like: our request or base_url is wrong, not this message.
    return ProviderMisconfigured("SendGrid did not understand the request (check base_url)",
                                 **common)


def error_for_exception(provider: str, exc: BaseException) -> DeliveryError:
    """A transport failure: see :func:`hub.errors.transport_error`."""
    return transport_error("SendGrid", provider, exc)
