"""Engagement tables (kept out of :mod:`hub.store.models`, on the same declarative Base).

Importing this module registers the tables on ``Base.metadata``; the migration environment and
the receipt recorder import it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.store.models_base import Base, BigId, UtcDateTime
from hub.store.models_delivery import Notification


class MessageEngagement(Base):
    """What a customer did with one message, one row per (notification, kind): opened,
    clicked, unsubscribed, complained (spam report).

    Providers repeat events and send one per open; the row keeps the first and last time and
    how many distinct provider events (``delivery_receipts`` dedupes repeats) said so, so the
    rates count a message once however often it was opened."""

    __tablename__ = "message_engagement"
    __table_args__ = (
        UniqueConstraint("notification_id", "kind", name="uq_message_engagement_notification"),
        Index("ix_message_engagement_kind_first", "kind", "first_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    notification_id: Mapped[str] = mapped_column(ForeignKey("notifications.id"))
    #: open | click | unsubscribe | complaint | reply
    kind: Mapped[str] = mapped_column(String(16))
    provider: Mapped[str] = mapped_column(String(100))
    first_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_at: Mapped[datetime] = mapped_column(UtcDateTime())
    events: Mapped[int] = mapped_column(Integer, default=1)


#: An SMS reply names no message: the hub finds the last one sent to its sender with this.
RECIPIENT_INDEX = Index("ix_notifications_recipient_sent", Notification.recipient_hash,
                        Notification.sent_at)
