"""The template library's table: every template saved through the admin API, append-only.

The newest row of a path is the template in use on every node (a row without source removes
the library's version: the operator folder's or the bundled file applies again). Nodes notice a
change by the table's row count and highest id (:mod:`hub.store.template_store`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hub.store.models_base import Base, BigId, UtcDateTime


class TemplateRevision(Base):
    """One saved version of one template file (``approved/sms.txt.j2``), with who saved it."""

    __tablename__ = "template_revisions"
    __table_args__ = (Index("ix_template_revisions_path", "path", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    path: Mapped[str] = mapped_column(String(200))
    #: None: the library's version was removed.
    source: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str | None] = mapped_column(String(64))
    token_name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
