"""Tables of the alerting (on the same declarative Base as :mod:`hub.store.models`).

``alerts``: one row per firing of a rule for a subject (a provider, a source, ``inbox``...).
While open its ``open_key`` is ``<rule>|<subject>``, unique, so there is one open alert per
rule and subject whatever the nodes do; resolving clears it (NULLs never collide).
``notice`` is the notice still owed to operators (firing, reminder, resolved): written in
the transaction that changed the alert, cleared once every destination took it, so a crash
between the two sends it again rather than never.

``job_leases``: one row per periodic singleton job (the alert evaluator), leased like the
outbox rows so one node runs it at a time.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.store.models_base import Base, BigId, UtcDateTime


class Alert(Base):
    """An alert: open while its rule's condition holds for its subject, then resolved."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("open_key", name="uq_alerts_open_key"),
        Index("ix_alerts_opened_at", "opened_at"),
        Index("ix_alerts_notice", "notice"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    rule: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(16))
    #: open | resolved
    status: Mapped[str] = mapped_column(String(16))
    open_key: Mapped[str | None] = mapped_column(String(320))
    #: What the rule measured last (a count, a rate, minutes), and in words (no PII).
    value: Mapped[float | None] = mapped_column(Float)
    summary: Mapped[str] = mapped_column(Text)
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    #: The notice owed: firing | reminder | resolved; None once delivered.
    notice: Mapped[str | None] = mapped_column(String(16))
    #: Destinations that already took the notice owed (a retry skips them).
    notice_done: Mapped[list] = mapped_column(JSON, default=list)
    notices_sent: Mapped[int] = mapped_column(Integer, default=0)
    last_notified_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    #: Why the last delivery of a notice failed (destination and error class only).
    notice_error: Mapped[str | None] = mapped_column(Text)


class JobLease(Base):
    """The lease of a job that one node at a time runs (``name``: e.g. ``alerts``)."""

    __tablename__ = "job_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
