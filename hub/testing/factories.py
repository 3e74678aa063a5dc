"""Builders of normalized event payloads (the ``standard_webhooks`` body format) for tests."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

_counter = itertools.count(1)
#: An hour before the test run (to the minute): events are recent, as live ones are, so that
#: they are not stale (hub.notifiable); ``minutes`` still orders them.
_BASE_TIME = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)


def customer(n: int = 1, **overrides: Any) -> dict[str, Any]:
    """A customer with a unique email and phone (reserved example domain and 555 numbers)."""
    data = {"id": f"C-{n}", "email": f"customer{n}@example.com",
            "phone": f"+1415555{n % 10000:04d}", "name": f"Test Customer{n}", "locale": "en-US"}
    return {**data, **overrides}


def event_payload(event_type: str = "return.approved", return_id: str | None = None, *,
                  minutes: int | None = None, **overrides: Any) -> dict[str, Any]:
    """One event body. ``minutes`` sets occurred_at relative to a base time (an hour before
    the run)."""
    n = next(_counter)
    occurred = _BASE_TIME + timedelta(minutes=n if minutes is None else minutes)
    data: dict[str, Any] = {
        "type": event_type,
        "return_id": return_id or f"R-{n}",
        "order_number": f"#{1000 + n}",
        "customer": customer(n),
        "items": [{"sku": "TEE-BLU-M", "name": "Blue tee", "quantity": 1,
                   "price": {"amount": "29.00", "currency": "USD"}, "reason": "Wrong size"}],
        "reason": "Wrong size",
        "order_total": {"amount": "29.00", "currency": "USD"},
        "refund_amount": {"amount": "29.00", "currency": "USD"},
        "occurred_at": occurred.isoformat(),
    }
    data.update(overrides)
    return data
