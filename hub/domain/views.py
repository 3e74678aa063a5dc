"""A return and its customer as plain data: what the decisions read and produce.

The store turns its rows into these views (decrypting what the decisions read) and writes
back what changed; nothing here knows about tables, tokens or sessions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datetime import datetime
    from decimal import Decimal

    from hub.events import ReturnEvent

#: The fields of :class:`ReturnView` that are a return's own columns, in the store's names.
RETURN_FIELDS = (
    "source", "external_id", "order_ref", "order_number", "customer_reference", "state", "cycle",
    "exception_flag", "reason", "currency", "order_total", "refund_amount", "refund_method",
    "carrier", "tracking_number", "tracking_url", "label_url", "last_event_at", "cycle_started_at",
    "created_at", "updated_at")


@dataclass(slots=True)
class ReturnView:
    """A return's facts. ``id`` is None for a return not stored yet; ``state`` is "" for a
    return first heard of (until a decision gives it one); ``details`` are its decrypted
    details (items, tags, drop-off codes...), None when it has none."""

    source: str
    external_id: str | None
    id: int | None = None
    state: str = ""
    cycle: int = 0
    exception_flag: bool = False
    order_ref: str | None = None
    order_number: str | None = None
    customer_reference: str | None = None
    reason: str | None = None
    currency: str | None = None
    order_total: Decimal | None = None
    refund_amount: Decimal | None = None
    refund_method: str | None = None
    carrier: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    label_url: str | None = None
    last_event_at: datetime | None = None
    #: When the current cycle began (a reopen), None for the first.
    cycle_started_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    details: dict[str, Any] | None = None

    @classmethod
    def first_heard(cls, event: ReturnEvent, now: datetime) -> ReturnView:
        """A return first heard of through ``event``."""
        return cls(source=event.source, external_id=event.return_id, created_at=now,
                   updated_at=now)


@dataclass(slots=True)
class CustomerView:
    """A customer's decrypted contact details. ``id`` is None for one not stored yet."""

    identity: str
    id: int | None = None
    email: str | None = None
    phone: str | None = None
    name: str | None = None
    locale: str | None = None
    timezone: str | None = None
    #: Channel opt-outs, e.g. {"sms": False}.
    preferences: dict[str, bool] = field(default_factory=dict)
    #: Channel addresses the source gave (``customer.attributes``).
    attributes: dict[str, str] = field(default_factory=dict)
    updated_at: datetime | None = None
