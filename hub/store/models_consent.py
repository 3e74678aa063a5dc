"""Marketing consent: kept apart from the transactional channel preferences on ``customers``.

One row per change, never updated: the history is the table, and a customer's consent on a
channel is the newest row for that (customer, channel). No PII is stored here, only the
customer's id.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from hub.store.models_base import Base, BigId, UtcDateTime

#: Where a consent change came from.
CONSENT_SOURCES: tuple[str, ...] = ("api", "portal", "import", "sms_keyword", "unsubscribe",
                                    "spam_report")
#: The channels marketing consent is kept for.
CONSENT_CHANNELS: tuple[str, ...] = ("email", "sms")


class MarketingConsent(Base):
    """One grant or withdrawal of marketing consent on one channel, with its source and time."""

    __tablename__ = "marketing_consents"
    __table_args__ = (
        Index("ix_marketing_consents_customer", "customer_id", "channel", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    channel: Mapped[str] = mapped_column(String(32))
    granted: Mapped[bool] = mapped_column(Boolean)
    #: api | portal | import | sms_keyword | unsubscribe | spam_report
    source: Mapped[str] = mapped_column(String(32))
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())
    #: Set when an SMS STOP withdrew it, so that START re-grants only what STOP removed.
    withdrawn_by_stop: Mapped[bool] = mapped_column(Boolean, default=False)
