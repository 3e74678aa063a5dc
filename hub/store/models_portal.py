"""Tables of the customer portal: in-app notices and page views."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from hub.store.models_base import Base, BigId, UtcDateTime


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


class PortalView(Base):
    """One opening of a customer's return page: what the portal saves in "where is my
    return" contacts."""

    __tablename__ = "portal_views"
    __table_args__ = (Index("ix_portal_views_viewed_at", "viewed_at"),
                      Index("ix_portal_views_return", "return_id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    return_id: Mapped[int] = mapped_column(ForeignKey("returns.id"))
    viewed_at: Mapped[datetime] = mapped_column(UtcDateTime())
