"""Tables of connectors' own progress: poll cursors and plugin state."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from hub.store.models_base import Base, BigId, UtcDateTime


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
