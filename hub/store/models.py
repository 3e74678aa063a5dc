"""Tables. Customer data is only ever stored encrypted (``*_enc`` columns, Fernet) and found
through keyed hashes (``*_hash``); see :class:`hub.security.PiiCipher`."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):  # noqa: ANN001, ANN201
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):  # noqa: ANN001, ANN201
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

NAMING = {
    "ix": "ix_%(column_0_label)s", "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Integer primary keys that autoincrement on both SQLite and PostgreSQL.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """Declarative base with a naming convention Alembic can diff."""

    metadata = MetaData(naming_convention=NAMING)


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


class Notification(Base):
    """One message to one recipient on one channel for one stage of a return (the outbox).

    ``idempotency_key`` = return, cycle, stage, channel and recipient hash: unique, so no replay
    or retried worker can plan the same message twice."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("idempotency_key", name="uq_notifications_idempotency_key"),
        Index("ix_notifications_claim", "status", "next_attempt_at"),
        Index("ix_notifications_return", "return_id"),
        Index("ix_notifications_provider_msg", "provider_message_id"),
        Index("ix_notifications_created_at", "created_at"),
        Index("ix_notifications_sent_at", "sent_at"),
        Index("ix_notifications_campaign", "campaign_id", "status"),
        Index("ix_notifications_priority_claim", "priority", "status", "next_attempt_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(255))
    return_id: Mapped[int] = mapped_column(ForeignKey("returns.id"))
    inbox_event_id: Mapped[int | None] = mapped_column(BigInteger)
    stage: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(32))
    #: transactional | promotional | internal (hub.categories): consent, routing, quiet hours.
    category: Mapped[str] = mapped_column(String(16), default="transactional",
                                          server_default="transactional")
    template: Mapped[str] = mapped_column(String(100))
    locale: Mapped[str | None] = mapped_column(String(35))
    recipient_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    recipient_hash: Mapped[str | None] = mapped_column(String(64))
    #: pending → sending → sent → delivered; or failed / dead / skipped
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime())
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    provider: Mapped[str | None] = mapped_column(String(100))
    provider_message_id: Mapped[str | None] = mapped_column(String(255))
    last_error: Mapped[str | None] = mapped_column(Text)
    #: When the triggering event reached the hub: the start of "time to notify".
    event_received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    #: After this the message is useless and is never sent (a "label ready" SMS after a day).
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    #: A provider accepted it; without a delivery receipt by then, fail over.
    receipt_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    #: Providers already tried, in order (failover skips them on the next round).
    tried_providers: Mapped[list] = mapped_column(JSON, default=list)
    #: The notification on another channel whose failure this one stands in for.
    fallback_of: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    #: Send intent, set just before a provider call (hub.delivery.intent); none: no call out.
    send_started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    send_provider: Mapped[str | None] = mapped_column(String(100))
    #: 0 transactional; campaigns are lower (claimed only with spare capacity, issue 17).
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    campaign_id: Mapped[int | None] = mapped_column(BigInteger)


class DeliveryAttempt(Base):
    """One try of one notification through one provider."""

    __tablename__ = "delivery_attempts"
    __table_args__ = (Index("ix_attempts_notification", "notification_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    notification_id: Mapped[str] = mapped_column(ForeignKey("notifications.id"))
    attempt_no: Mapped[int] = mapped_column(Integer)
    provider: Mapped[str] = mapped_column(String(100))
    #: accepted | transient | rate_limited | permanent | refused | misconfigured | unknown
    outcome: Mapped[str] = mapped_column(String(16))
    provider_message_id: Mapped[str | None] = mapped_column(String(255))
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    duration_ms: Mapped[float] = mapped_column(Numeric(12, 3))


class DeliveryReceipt(Base):
    """A provider's status event about one of our messages (delivered, bounced, ...).

    Unique per (provider, event id): providers repeat their webhooks, and a repeat changes
    nothing. ``raw_enc`` keeps the provider's event, encrypted (it names the recipient).
    """

    __tablename__ = "delivery_receipts"
    __table_args__ = (
        UniqueConstraint("provider", "event_id", name="uq_receipts_provider_event"),
        Index("ix_receipts_notification", "notification_id"),
        Index("ix_receipts_received_at", "received_at"),  # alert rates (migration 0013)
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(100))
    event_id: Mapped[str] = mapped_column(String(255))
    notification_id: Mapped[str | None] = mapped_column(String(36))
    provider_message_id: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime())
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    raw_enc: Mapped[bytes | None] = mapped_column(LargeBinary)


class ProviderHealth(Base):
    """The circuit breaker state of each provider instance, as last seen by any node."""

    __tablename__ = "provider_health"

    provider: Mapped[str] = mapped_column(String(100), primary_key=True)
    #: closed | open | half_open
    state: Mapped[str] = mapped_column(String(16))
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    opened_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    node: Mapped[str | None] = mapped_column(String(100))


class PortalMessage(Base):
    """An in-app notice shown on the customer's return page (the ``portal`` channel)."""

    __tablename__ = "portal_messages"
    __table_args__ = (
        UniqueConstraint("notification_id", name="uq_portal_messages_notification_id"),
        Index("ix_portal_messages_return", "return_ref", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    notification_id: Mapped[str] = mapped_column(String(36))
    #: The return's reference as the customer knows it, and the customer key it belongs to.
    return_ref: Mapped[str] = mapped_column(String(255))
    customer_key: Mapped[str | None] = mapped_column(String(255))
    stage: Mapped[str | None] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(Text)
    body_enc: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class SourceCursor(Base):
    """How far the poller got in a polled source, since when (``started_at``: its history)."""

    __tablename__ = "source_cursors"

    source: Mapped[str] = mapped_column(String(100), primary_key=True)
    cursor: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    #: Only one node polls a source at a time: the holder of this lease.
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class PluginState(Base):
    """A connector instance's own state (``context.state``, :mod:`hub.store.plugin_state`)."""

    __tablename__ = "plugin_state"
    __table_args__ = (UniqueConstraint("namespace", "key", name="uq_plugin_state_namespace"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    namespace: Mapped[str] = mapped_column(String(255))  # <connector type>:<instance name>
    key: Mapped[str] = mapped_column(String(200))
    value_enc: Mapped[bytes] = mapped_column(LargeBinary)  # JSON, encrypted
    version: Mapped[int] = mapped_column(Integer, default=1)  # for compare-and-set
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ApiToken(Base):
    """An admin API token; only its hash is stored."""

    __tablename__ = "api_tokens"
    __table_args__ = (UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
                      UniqueConstraint("name", name="uq_api_tokens_name"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64))
    #: read | operate | admin
    scopes: Mapped[list] = mapped_column(JSON, default=list)
    #: Limits for rule management: regions and product categories (empty: all).
    regions: Mapped[list] = mapped_column(JSON, default=list)
    categories: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class AuditEntry(Base):
    """Who changed what through the admin API."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    token_name: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(255))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(UtcDateTime())


class RuleAction(Base):
    """An action a rule takes outside the hub (approve or decline upstream, a help-desk
    webhook), carried out by a worker with retries so that a failure is retried and surfaced,
    never lost. Unique per (return, cycle, action): a duplicate event acts once."""

    __tablename__ = "rule_actions"
    __table_args__ = (
        UniqueConstraint("idempotency_key", name="uq_rule_actions_idempotency_key"),
        Index("ix_rule_actions_claim", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(255))
    return_id: Mapped[int] = mapped_column(ForeignKey("returns.id"))
    rule: Mapped[str] = mapped_column(String(100))
    #: approve | decline | webhook
    action: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    #: pending → done | failed
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime())
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class PortalView(Base):
    """One opening of a customer's return page: what the portal saves in "where is my
    return" contacts."""

    __tablename__ = "portal_views"
    __table_args__ = (Index("ix_portal_views_viewed_at", "viewed_at"),
                      Index("ix_portal_views_return", "return_id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("returns.id"))
    viewed_at: Mapped[datetime] = mapped_column(UtcDateTime())


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


# Some tables live in side modules (this one is long); imported here so that whoever reads
# Base.metadata (migrations, key rotation, safe errors) sees every table.
from hub.store import (  # noqa: E402, F401
    models_alerts,
    models_campaigns,
    models_consent,
    models_engagement,
    models_templates,
)
