"""What SendGrid's non-2xx answers mean, on top of the contract's status table.

SendGrid answers ``{"errors": [{"message", "field", "help"}]}`` and says when a rate limit
resets in ``X-RateLimit-Reset`` (Unix seconds) rather than ``Retry-After``. 413 (too large) is
a refusal of the message; 404/405/406 mean our request or ``base_url`` is wrong, not this
message; 5xx comes before SendGrid takes the message, so the next provider is tried at once.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import orjson

from hub.contract import ProviderMisconfigured, StatusTable

if TYPE_CHECKING:
    from collections.abc import Mapping

TABLE = StatusTable(vendor="SendGrid", rejected=frozenset({400, 413}), other=ProviderMisconfigured)


def describe_errors(body: bytes) -> tuple[str, list[str]]:
    """SendGrid's error list as ``field: message; …`` (the caller masks it) and the fields it
    blames; else the body and no field."""
    try:
        errors = orjson.loads(body)["errors"]
        fields = [str(item["field"]) for item in errors if item.get("field")]
        return "; ".join(f"{item['field']}: {item.get('message')}" if item.get("field")
                         else str(item.get("message")) for item in errors), fields
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        return body.decode("utf-8", "replace"), []


def reset_wait(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds until ``X-RateLimit-Reset``; None when absent or unreadable."""
    try:
        seconds = float(headers["X-RateLimit-Reset"]) - now
    except (KeyError, ValueError):
        return None
    return max(0.0, math.ceil(seconds)) if math.isfinite(seconds) else None
