"""Tables of delivery: the notification outbox, its attempts, providers' receipts and
providers' circuit breaker state (on the declarative Base of :mod:`hub.store.models_base`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from hub.store.models_base import Base, BigId, UtcDateTime

#: Which rows ix_notifications_receipt_due holds. A planner takes a partial index only for a
#: query whose terms imply its WHERE, as the claim's do (hub.store.outbox ``_STATUS_IS``;
#: tests/delivery/test_claim_plan.py checks the plans).
RECEIPT_AWAITED = "status = 'sent' AND receipt_due_at IS NOT NULL"


class Notification(Base):
    """One message to one recipient on one channel for one stage of a return (the outbox).

    ``idempotency_key`` = return, cycle, stage, channel and recipient hash: unique, so no replay
    or retried worker can plan the same message twice."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("idempotency_key", name="uq_notifications_idempotency_key"),
        Index("ix_notifications_claim", "status", "next_attempt_at"),
        # The claim's "earlier stage still on its way" lookup (hub.store.outbox), and every
        # read of a return's notifications (migration 0019).
        Index("ix_notifications_return_channel", "return_id", "channel", "priority"),
        Index("ix_notifications_provider_msg", "provider_message_id"),
        Index("ix_notifications_created_at", "created_at"),
        Index("ix_notifications_sent_at", "sent_at"),
        Index("ix_notifications_campaign", "campaign_id", "status"),
        Index("ix_notifications_priority_claim", "priority", "status", "next_attempt_at"),
        # The claim's "receipt overdue" probe, over the sent rows still awaiting a receipt:
        # those of sinks without receipts stay sent for good, and every claim read them all
        # (migration 0015, docs/performance.md). ``status`` leads, constant as it is, because
        # SQLite, with no statistics, prefers ix_notifications_claim's ``status =`` to a
        # range alone.
        Index("ix_notifications_receipt_due", "status", "receipt_due_at",
              sqlite_where=text(RECEIPT_AWAITED), postgresql_where=text(RECEIPT_AWAITED)),
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
