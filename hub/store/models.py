"""Tables. Customer data is only ever stored encrypted (``*_enc`` columns, Fernet) and found
through keyed hashes (``*_hash``); see :class:`hub.security.PiiCipher`.

This module holds the intake and the returns (inbox events, customers, returns, their
timeline and references); the other tables live in ``models_*`` modules by topic, imported
here so that ``from hub.store.models import X`` names every table, and whoever reads
``Base.metadata`` (migrations, key rotation, safe errors) sees them all."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

# Side modules: imported for their tables (see the docstring), some names re-exported.
from hub.store import (  # noqa: F401
    models_alerts,
    models_campaigns,
    models_consent,
    models_engagement,
    models_templates,
)
from hub.store.models_admin import ApiToken, AuditEntry  # noqa: F401
from hub.store.models_base import NAMING, Base, BigId, UtcDateTime  # noqa: F401
from hub.store.models_connectors import PluginState, SourceCursor  # noqa: F401
from hub.store.models_delivery import (  # noqa: F401
    DeliveryAttempt,
    DeliveryReceipt,
    Notification,
    ProviderHealth,
)
from hub.store.models_portal import PortalMessage, PortalView  # noqa: F401
from hub.store.models_rules import RuleAction  # noqa: F401


class InboxEvent(Base):
    """A received event, stored before the platform gets its 2xx. Unique per source delivery."""

    __tablename__ = "inbox_events"
    __table_args__ = (
        UniqueConstraint("source", "source_event_id", name="uq_inbox_source_event"),
        Index("ix_inbox_claim", "status", "available_at"),
        Index("ix_inbox_tracking", "tracking_number", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(100))
    source_event_id: Mapped[str] = mapped_column(String(255))
    event_type: Mapped[str] = mapped_column(String(64))
    return_ref: Mapped[str | None] = mapped_column(String(255))
    tracking_number: Mapped[str | None] = mapped_column(String(100))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime())
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    #: The normalized event with its raw payload, as encrypted JSON (it carries PII).
    payload_enc: Mapped[bytes] = mapped_column(LargeBinary)
    #: pending → done | parked (waiting for its return) | failed (dead letter)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    available_at: Mapped[datetime] = mapped_column(UtcDateTime())
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    processed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)


class Customer(Base):
    """A customer, known by source and platform id or by the keyed hash of the email."""

    __tablename__ = "customers"
    __table_args__ = (
        UniqueConstraint("identity", name="uq_customers_identity"),
        Index("ix_customers_email_hash", "email_hash"),
        Index("ix_customers_phone_hash", "phone_hash"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    #: "<source>:<platform id>" or "email:<hash>"; never plaintext PII.
    identity: Mapped[str] = mapped_column(String(255))
    email_hash: Mapped[str | None] = mapped_column(String(64))
    phone_hash: Mapped[str | None] = mapped_column(String(64))
    email_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    phone_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    name_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    attributes_enc: Mapped[bytes | None] = mapped_column(LargeBinary)  # JSON: channel addresses
    locale: Mapped[str | None] = mapped_column(String(35))
    timezone: Mapped[str | None] = mapped_column(String(64))
    #: Channel opt-outs and other preferences, e.g. {"sms": false}.
    preferences: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Return(Base):
    """A return and where it stands. ``cycle`` counts reopenings (part of notification keys)."""

    __tablename__ = "returns"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_returns_source_external"),
        Index("ix_returns_tracking", "tracking_number"),
        Index("ix_returns_state", "state"),
        Index("ix_returns_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(100))
    external_id: Mapped[str] = mapped_column(String(255))
    order_ref: Mapped[str | None] = mapped_column(String(255))
    order_number: Mapped[str | None] = mapped_column(String(100))
    customer_reference: Mapped[str | None] = mapped_column(String(255))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    #: Write-only in practice (reading it unloaded raises; async code must not lazy-load):
    #: assigning it orders the INSERTs of a new customer and its return within one flush.
    customer: Mapped[Customer | None] = relationship(lazy="raise")
    state: Mapped[str] = mapped_column(String(32))
    cycle: Mapped[int] = mapped_column(Integer, default=0)
    exception_flag: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Free text from the platform: unbounded (Text), like refund_method (an ERP label).
    reason: Mapped[str | None] = mapped_column(Text)
    currency: Mapped[str | None] = mapped_column(String(3))
    order_total: Mapped[float | None] = mapped_column(Numeric(14, 4))
    refund_amount: Mapped[float | None] = mapped_column(Numeric(14, 4))
    refund_method: Mapped[str | None] = mapped_column(Text)
    carrier: Mapped[str | None] = mapped_column(String(64))
    tracking_number: Mapped[str | None] = mapped_column(String(100))
    tracking_url: Mapped[str | None] = mapped_column(Text)
    label_url: Mapped[str | None] = mapped_column(Text)
    #: Items and other details, encrypted JSON (item names can be personal too).
    details_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    last_event_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    #: When the current cycle began (its reopen; None: the first cycle, or reopened before
    #: migration 0018): events that happened before belong to an earlier cycle.
    cycle_started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class TimelineEntry(Base):
    """Everything that happened to a return, in order: events (late ones too), decisions, sends."""

    __tablename__ = "timeline_entries"
    __table_args__ = (Index("ix_timeline_return", "return_id", "id"),
                      Index("ix_timeline_occurred_at", "occurred_at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("returns.id"))
    #: event | notification | rule | note
    kind: Mapped[str] = mapped_column(String(16))
    #: moved | duplicate | late | rejected | flagged | updated | planned | sent | failed ...
    outcome: Mapped[str] = mapped_column(String(32))
    event_type: Mapped[str | None] = mapped_column(String(64))
    from_state: Mapped[str | None] = mapped_column(String(32))
    to_state: Mapped[str | None] = mapped_column(String(32))
    inbox_event_id: Mapped[int | None] = mapped_column(BigInteger)
    notification_id: Mapped[str | None] = mapped_column(String(36))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ReturnReference(Base):
    """One external reference of a return (issue 16): a Shopify return id or name, an order
    number, an RMA, an ERP record id, a tracking number, and the source that said it.

    Unique per (scope, kind, value, slot): ``slot`` is 0 for the kinds that name one return, so
    at most one return holds such a value; for order-level kinds (an order may have several
    returns) it is the return's id. ``returns.source/external_id`` stays the key the return was
    created under; it is also held here as kind ``id``, value ``<source>:<external id>``."""

    __tablename__ = "return_references"
    __table_args__ = (
        UniqueConstraint("scope", "kind", "value", "slot", name="uq_return_references_key"),
        Index("ix_return_references_return", "return_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    #: Sources sharing a scope find each other's returns (one merchant).
    scope: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(String(400))
    slot: Mapped[int] = mapped_column(BigInteger, default=0)
    return_id: Mapped[int] = mapped_column(ForeignKey("returns.id"))
    source: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class MatchDecision(Base):
    """An operator's answer to an ambiguous match: the inbox event goes to ``return_id``, or
    to a new return when it is None. Read when the event is applied again."""

    __tablename__ = "match_decisions"

    inbox_event_id: Mapped[int] = mapped_column(BigInteger, primary_key=True,
                                                autoincrement=False)
    return_id: Mapped[int | None] = mapped_column(BigInteger)
    token_name: Mapped[str] = mapped_column(String(100))
    decided_at: Mapped[datetime] = mapped_column(UtcDateTime())
