"""Tables of rules: the upstream actions rules take, carried out by a worker."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from hub.store.models_base import Base, BigId, UtcDateTime


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
