"""Request and response models of the admin API (the OpenAPI document is generated from them).

Request models forbid unknown fields: a misspelt filter or an attempt to set a field that is not
writable is a 422 naming it, never silently ignored.

This module holds the models of returns, notifications, dead letters and the audit log; the
others live in ``schemas_*`` modules by topic and are re-exported here, so that
``from hub.web.admin.schemas import X`` names every model.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field

from hub.domain.outcome import STATUS_RANK
from hub.events import ReturnState
from hub.web.admin.ids import RowId
from hub.web.admin.schemas_base import (  # noqa: F401 (re-exported)
    ErrorBody,
    ErrorResponse,
    IntId,
    NameParam,
    Out,
    Page,
    PageQuery,
    Strict,
    StrId,
    T,
)
from hub.web.admin.schemas_connectors import (  # noqa: F401 (re-exported)
    BreakerOut,
    ConnectorList,
    ConnectorOut,
    FreeForm,
    PreviewQuery,
    TestSendBody,
    TestSendResult,
)
from hub.web.admin.schemas_customers import (  # noqa: F401 (re-exported)
    CustomerExport,
    CustomerList,
    CustomerOut,
    CustomerSearchBody,
    ErasedOut,
    PreferencesBody,
)

#: Every status a notification can have (a filter naming another is a 422, not an empty page).
NotificationStatus = Literal[tuple(STATUS_RANK)]  # type: ignore[valid-type]

# --- returns --------------------------------------------------------------------------------

def _in_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


#: A time filter: a date, or a time without an offset, is read as UTC (the store's clock).
UtcFilter = Annotated[datetime, AfterValidator(_in_utc)]


class ReturnSearch(PageQuery):
    """Filters of the return search; all optional, combined with AND. Newest first."""

    reference: str | None = Field(None, max_length=255, description="The platform's return "
                                  "reference (exact).")
    order_number: str | None = Field(None, max_length=100, description="Order number (exact).")
    source: str | None = Field(None, max_length=100, description="Source connector name.")
    email: str | None = Field(None, max_length=320, description="Customer email (matched "
                              "through its keyed hash; never stored or logged in clear).")
    phone: str | None = Field(None, max_length=40, description="Customer phone, as stored "
                              "(E.164), matched through its keyed hash.")
    state: list[ReturnState] | None = Field(None, description="One or more states "
                                            "(repeat the parameter or separate with commas).")
    created_from: UtcFilter | None = Field(None, description="Created at or after (ISO 8601; a "
                                           "date or a time without an offset is UTC).")
    created_to: UtcFilter | None = Field(None, description="Created before (ISO 8601; a date "
                                         "or a time without an offset is UTC).")


class ReturnSummary(Out):
    """A return and where it stands."""

    id: int
    source: str
    reference: str = Field(description="The platform's return reference.")
    order_number: str | None
    state: str
    cycle: int = Field(description="How often it was reopened.")
    exception_flag: bool = Field(description="A carrier exception is pending.")
    reason: str | None
    currency: str | None
    order_total: str | None = Field(description="Decimal, in ``currency``.")
    refund_amount: str | None = Field(description="Decimal, in ``currency``.")
    refund_method: str | None
    carrier: str | None
    tracking_number: str | None
    tracking_url: str | None
    region: str | None = Field(description="Shipping country or region, when the data says "
                               "(see docs/admin-api.md, Limits).")
    categories: list[str] = Field(description="Product categories of its items.")
    created_at: datetime
    updated_at: datetime
    last_event_at: datetime | None


class ReturnItemOut(Out):
    """One returned line."""

    sku: str | None = None
    name: str | None = None
    quantity: int | None = None
    category: str | None = None
    reason: str | None = None


class ReturnDetail(ReturnSummary):
    """A return with its items and customer id."""

    customer_id: int | None
    items: list[ReturnItemOut]


class TimelineItem(Out):
    """One timeline entry: an event applied, a rule decision, a notification's progress."""

    id: int
    kind: str = Field(description="event | rule | notification | note")
    outcome: str
    event_type: str | None
    from_state: str | None
    to_state: str | None
    inbox_event_id: int | None
    notification_id: str | None
    detail: dict[str, Any]
    occurred_at: datetime
    recorded_at: datetime


class InboxEventOut(Out):
    """A received event, as stored in the inbox (its encrypted payload is not shown)."""

    id: int
    source: str
    source_event_id: str
    event_type: str
    return_ref: str | None
    tracking_number: str | None
    status: str = Field(description="pending | done | parked | ambiguous | failed")
    attempts: int
    occurred_at: datetime
    received_at: datetime
    processed_at: datetime | None
    last_error: str | None


class AttemptOut(Out):
    """One try through one provider."""

    attempt_no: int
    provider: str
    outcome: str
    provider_message_id: str | None
    error: str | None
    started_at: datetime
    duration_ms: float


class ReceiptOut(Out):
    """A provider's status event about a message."""

    provider: str
    event_id: str
    status: str
    reason: str | None
    occurred_at: datetime
    received_at: datetime


class NotificationOut(Out):
    """One message to one recipient on one channel for one stage."""

    id: str
    return_id: int
    stage: str
    channel: str
    template: str
    locale: str | None
    recipient: str | None = Field(description="Masked (``j***@example.com``); the GDPR "
                                  "export shows it in full.")
    status: str
    attempts: int
    provider: str | None
    provider_message_id: str | None
    last_error: str | None
    tried_providers: list[str]
    fallback_of: str | None
    event_received_at: datetime
    created_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    expires_at: datetime | None


class NotificationDetail(NotificationOut):
    """A notification with its attempts and receipts."""

    delivery_attempts: list[AttemptOut]
    receipts: list[ReceiptOut]


class NotificationQuery(PageQuery):
    """Filters of the notification list. Newest first."""

    return_id: RowId | None = None
    status: list[NotificationStatus] | None = Field(  # type: ignore[valid-type]
        None, description="One or more statuses (repeat the parameter or separate with "
        "commas), e.g. sent, delivered, bounced, dead.")
    channel: str | None = Field(None, max_length=32)
    provider: str | None = Field(None, max_length=100)
    stage: str | None = Field(None, max_length=64)


class ReturnTimeline(Out):
    """Everything about one return: events received, rule decisions, notifications."""

    return_: ReturnDetail = Field(alias="return", serialization_alias="return")
    timeline: list[TimelineItem]
    events: list[InboxEventOut]
    notifications: list[NotificationDetail]

    model_config = ConfigDict(from_attributes=True, populate_by_name=True,
                              serialize_by_alias=True)


# --- dead letters ---------------------------------------------------------------------------

class DeadNotificationQuery(PageQuery):
    """Filters of the notification dead letters."""

    channel: str | None = Field(None, max_length=32)
    provider: str | None = Field(None, max_length=100)


class DeadInboxQuery(PageQuery):
    """Filters of the inbox dead letters."""

    source: str | None = Field(None, max_length=100)


class ReplayResult(Out):
    """What a replay did."""

    kind: Literal["inbox", "notification"]
    id: str
    status: str = Field(description="The status it is back in (pending).")


# --- audit ----------------------------------------------------------------------------------

class AuditOut(Out):
    """One audited change."""

    id: int
    token_name: str
    action: str
    target: str | None
    detail: dict[str, Any]
    at: datetime


class AuditQuery(PageQuery):
    """Filters of the audit log. Newest first."""

    token_name: str | None = Field(None, max_length=100)
    action: str | None = Field(None, max_length=64)
