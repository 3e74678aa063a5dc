"""Segments and campaigns (issue 17), on the same declarative base as :mod:`hub.store.models`.

A campaign's planning is durable: ``cursor`` is the last return id whose batch was planned,
written in the same transaction as that batch's notifications, so a planner killed mid-batch
plans the batch again and the unique idempotency key (``campaign:<id>:<channel>:<recipient hash>``)
keeps every recipient to one message."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.store.models_base import Base, BigId, UtcDateTime

#: A campaign's states; ``draft`` and ``scheduled`` plan nothing yet.
CAMPAIGN_STATES = ("draft", "scheduled", "running", "paused", "cancelled", "done")


class Segment(Base):
    """A named CEL filter over returns and their customers (:mod:`hub.campaigns.segment`)."""

    __tablename__ = "segments"
    __table_args__ = (UniqueConstraint("name", name="uq_segments_name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    filter: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Campaign(Base):
    """A message per channel to a segment's consenting customers, at a send rate."""

    __tablename__ = "campaigns"
    __table_args__ = (UniqueConstraint("name", name="uq_campaigns_name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id"))
    #: The template (``campaigns/<name>``) and the channels it is sent on.
    template: Mapped[str] = mapped_column(String(100))
    channels: Mapped[list] = mapped_column(JSON, default=list)
    category: Mapped[str] = mapped_column(String(32), default="promotional")
    status: Mapped[str] = mapped_column(String(16), default="draft")
    start_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    #: Messages per second; the planner spaces ``next_attempt_at`` by it.
    rate_per_second: Mapped[float] = mapped_column(Float, default=10.0)
    #: The last return id planned (keyset cursor); 0 before the first batch.
    cursor: Mapped[int] = mapped_column(BigInteger, default=0)
    planned: Mapped[int] = mapped_column(Integer, default=0)
    #: Matching customers left out (no consent, no address, opted out of the channel).
    excluded: Mapped[int] = mapped_column(Integer, default=0)
    #: When the next planned message may go (the pacing clock, durable across restarts).
    pace_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    planning_done: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
