"""The normalized return event and the return lifecycle state machine.

Every source turns what its platform says into :class:`ReturnEvent` objects. The core applies
them to a return through :class:`Lifecycle`, which knows which moves are allowed; an event that
would move a return backwards (a late retry, a reordered carrier scan) is recorded on the
timeline but changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hub.recipients import ATTRIBUTE_NAME


class ReturnState(StrEnum):
    """Where a return stands. Declared in lifecycle order; see :data:`STATE_RANK`."""

    REQUESTED = "requested"
    PENDING_REVIEW = "pending_review"
    APPROVED = "approved"
    DECLINED = "declined"
    LABEL_CREATED = "label_created"
    IN_TRANSIT = "in_transit"
    DELIVERED_TO_WAREHOUSE = "delivered_to_warehouse"
    RECEIVED = "received"
    INSPECTED = "inspected"
    RESTOCKED = "restocked"
    REFUNDED = "refunded"
    EXCHANGE_SHIPPED = "exchange_shipped"
    CLOSED = "closed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class EventType(StrEnum):
    """What happened to a return, in the hub's vocabulary (sources map their own onto it)."""

    REQUESTED = "return.requested"
    PENDING_REVIEW = "return.pending_review"
    APPROVED = "return.approved"
    DECLINED = "return.declined"
    LABEL_CREATED = "return.label_created"
    IN_TRANSIT = "return.in_transit"
    DELIVERED_TO_WAREHOUSE = "return.delivered_to_warehouse"
    RECEIVED = "return.received"
    INSPECTED = "return.inspected"
    RESTOCKED = "return.restocked"
    REFUNDED = "return.refunded"
    EXCHANGE_SHIPPED = "return.exchange_shipped"
    CLOSED = "return.closed"
    CANCELLED = "return.cancelled"
    EXPIRED = "return.expired"
    REOPENED = "return.reopened"
    #: A carrier exception (return to sender, failed attempt): flags the return, moves nothing.
    SHIPMENT_EXCEPTION = "return.shipment_exception"
    #: Data only (new tracking number, enriched amounts): updates fields, moves nothing.
    UPDATED = "return.updated"
    #: Privacy requests (Shopify's mandatory webhooks): ``customer`` names who; no return moves.
    CUSTOMER_REDACT = "privacy.customer_redact"
    CUSTOMER_DATA_REQUEST = "privacy.customer_data_request"
    SHOP_REDACT = "privacy.shop_redact"


#: Event types that concern a customer or shop, not one return's lifecycle.
PRIVACY_EVENTS = frozenset(
    {EventType.CUSTOMER_REDACT, EventType.CUSTOMER_DATA_REQUEST, EventType.SHOP_REDACT}
)


#: The state each event type moves a return to; types absent here move nothing.
EVENT_TARGET: dict[EventType, ReturnState] = {
    EventType(f"return.{state.value}"): state for state in ReturnState
}


#: Progress order. A move to a lower rank is a late event and is ignored. States of equal
#: rank are alternatives (a refund or an exchange resolves a return).
STATE_RANK: dict[ReturnState, int] = {
    ReturnState.REQUESTED: 10,
    ReturnState.PENDING_REVIEW: 20,
    ReturnState.APPROVED: 30,
    ReturnState.LABEL_CREATED: 40,
    ReturnState.IN_TRANSIT: 50,
    ReturnState.DELIVERED_TO_WAREHOUSE: 60,
    ReturnState.RECEIVED: 70,
    ReturnState.INSPECTED: 80,
    ReturnState.RESTOCKED: 85,
    ReturnState.REFUNDED: 90,
    ReturnState.EXCHANGE_SHIPPED: 90,
    ReturnState.CLOSED: 100,
    ReturnState.DECLINED: 100,
    ReturnState.CANCELLED: 100,
    ReturnState.EXPIRED: 100,
}

#: States a return never leaves, except CLOSED through an explicit reopen.
TERMINAL_STATES = frozenset(
    {ReturnState.CLOSED, ReturnState.DECLINED, ReturnState.CANCELLED, ReturnState.EXPIRED}
)

#: States from which a cancellation is still possible (nothing shipped or received yet).
CANCELLABLE_STATES = frozenset(
    {ReturnState.REQUESTED, ReturnState.PENDING_REVIEW, ReturnState.APPROVED,
     ReturnState.LABEL_CREATED}
)


class Outcome(StrEnum):
    """What applying one event did to a return."""

    MOVED = "moved"          #: the return changed state
    DUPLICATE = "duplicate"  #: the return is already in that state
    LATE = "late"            #: the return is already past that state; nothing changed
    REJECTED = "rejected"    #: the move is not allowed from the current state
    FLAGGED = "flagged"      #: a shipment exception was recorded
    UPDATED = "updated"      #: data only


class Transition(BaseModel):
    """The result of :meth:`Lifecycle.apply`: the outcome and the states on either side."""

    outcome: Outcome
    from_state: ReturnState | None
    to_state: ReturnState | None


class Lifecycle:
    """The return state machine: pure logic, no I/O."""

    @staticmethod
    def apply(current: ReturnState | None, event_type: EventType) -> Transition:
        """Decide what ``event_type`` does to a return in state ``current`` (None: a new return)."""
        if event_type is EventType.SHIPMENT_EXCEPTION:
            # A cancelled (declined, closed, expired) return's parcel is no return parcel any
            # more: the carrier's scans of it are recorded, and never tell the customer "a
            # problem with your return parcel" (found from outside).
            outcome = Outcome.REJECTED if current in TERMINAL_STATES else Outcome.FLAGGED
            return Transition(outcome=outcome, from_state=current, to_state=current)
        if event_type is EventType.UPDATED:
            return Transition(outcome=Outcome.UPDATED, from_state=current, to_state=current)
        if event_type is EventType.REOPENED:
            if current is ReturnState.CLOSED:
                return Transition(outcome=Outcome.MOVED, from_state=current,
                                  to_state=ReturnState.APPROVED)
            return Transition(outcome=Outcome.REJECTED, from_state=current, to_state=current)
        target = EVENT_TARGET[event_type]
        if current is None:
            return Transition(outcome=Outcome.MOVED, from_state=None, to_state=target)
        if target is current:
            return Transition(outcome=Outcome.DUPLICATE, from_state=current, to_state=current)
        if current in TERMINAL_STATES:
            # A retried "approved" arriving after "closed" is late, not an error.
            late = STATE_RANK[target] <= STATE_RANK[current]
            outcome = Outcome.LATE if late else Outcome.REJECTED
            return Transition(outcome=outcome, from_state=current, to_state=current)
        if target is ReturnState.CANCELLED and current not in CANCELLABLE_STATES:
            return Transition(outcome=Outcome.REJECTED, from_state=current, to_state=current)
        if target is ReturnState.DECLINED and \
                STATE_RANK[current] > STATE_RANK[ReturnState.APPROVED]:
            return Transition(outcome=Outcome.REJECTED, from_state=current, to_state=current)
        if STATE_RANK[target] < STATE_RANK[current] or (
            STATE_RANK[target] == STATE_RANK[current] and target not in TERMINAL_STATES
        ):
            return Transition(outcome=Outcome.LATE, from_state=current, to_state=current)
        return Transition(outcome=Outcome.MOVED, from_state=current, to_state=target)


class Money(BaseModel):
    """An amount in one currency (ISO 4217 code). Amounts are decimals, never floats."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    amount: Decimal = Field(description="The amount, in the currency's major unit.")
    currency: str = Field(min_length=3, max_length=3, description="ISO 4217 code, e.g. USD.")

    @field_validator("currency")
    @classmethod
    def _upper(cls, value: str) -> str:
        if not value.isalpha():
            raise ValueError("must be a three-letter ISO 4217 code")
        return value.upper()


class Customer(BaseModel):
    """Who the return belongs to. Every field but ``id`` is PII: encrypted at rest, never logged."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, description="The platform's customer id.")
    email: str | None = None
    phone: str | None = Field(default=None, description="E.164 when known, e.g. +14155550100.")
    name: str | None = None
    locale: str | None = Field(default=None, description="BCP 47, e.g. en-US.")
    timezone: str | None = Field(default=None, description="IANA zone, e.g. Europe/Berlin.")
    tags: list[str] = Field(default_factory=list)
    attributes: dict[str, str] = Field(
        default_factory=dict, max_length=20,
        description="Addresses on other channels, by name, e.g. {\"slack_id\": \"U024BE7LH\"}: "
        "a sink's channel reads the one it declares (docs/plugin-guide.md). Names are 1 to 64 "
        "letters, digits, '_', '-' or '.'; values 1 to 255 characters, no control characters.")

    @field_validator("attributes")
    @classmethod
    def _attributes(cls, value: dict[str, str]) -> dict[str, str]:
        for name, address in value.items():
            if not ATTRIBUTE_NAME.fullmatch(name):
                raise ValueError("an attribute name is 1 to 64 letters, digits, '_', '-' or '.'")
            if not 0 < len(address) <= 255 or not address.isprintable():
                raise ValueError(f"attribute {name!r}: 1 to 255 characters, no control "
                                 f"characters")
        return value


class ReturnItem(BaseModel):
    """One returned line: quantities are tracked per line, as ERPs and Shopify do."""

    model_config = ConfigDict(extra="forbid")

    sku: str | None = None
    name: str | None = None
    quantity: int = Field(default=1, ge=0)
    price: Money | None = None
    reason: str | None = None
    category: str | None = None


class Tracking(BaseModel):
    """The return parcel's tracking details."""

    model_config = ConfigDict(extra="forbid")

    carrier: str | None = None
    number: str | None = None
    url: str | None = None
    label_url: str | None = None
    estimated_delivery: datetime | None = None


class ReturnEvent(BaseModel):
    """One thing that happened to a return, normalized from any source.

    ``source`` is the configured connector instance name and ``source_event_id`` the platform's
    delivery id: together they are the dedupe key of the inbox. ``raw`` keeps the platform's
    payload beside the normalized fields. ``return_id`` may be empty when the event can be
    matched by ``tracking.number`` (carrier scans) or when the source's ``enrich`` fills it in;
    an event that has neither after enrichment is failed with a clear error.
    """

    model_config = ConfigDict(extra="forbid")

    type: EventType
    return_id: str | None = Field(default=None, description="The platform's return reference.")
    order_id: str | None = None
    order_number: str | None = None
    customer_reference: str | None = Field(
        default=None, description="What the customer calls the return: Shopify's return name "
        "(#5001-R1), the ERP's RMA number. Messages and the portal use it (else return_id).")
    customer: Customer | None = None
    items: list[ReturnItem] = Field(default_factory=list)
    reason: str | None = None
    order_total: Money | None = None
    refund_amount: Money | None = None
    refund_method: str | None = None
    tracking: Tracking | None = None
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    source: str = ""
    source_event_id: str = ""
    raw: Any = None
    extra: dict[str, Any] = Field(default_factory=dict)

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=UTC)
