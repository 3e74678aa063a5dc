"""Parked carrier scans keep their tracking number as references do: trimmed and in upper
case (``hub.identity.tracking_key``), so that a return whose label spells the number in
another case finds them. Scans parked before this kept the carrier's spelling and would have
waited for good; they, and the rows not yet applied (which may be parked later), are
rewritten here.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

_INBOX = sa.table("inbox_events", sa.column("id", sa.BigInteger),
                  sa.column("tracking_number", sa.String), sa.column("status", sa.String))


def upgrade() -> None:
    bind = op.get_bind()
    # Not only the parked ones: a row still pending (or failed, to be replayed) was written
    # with the carrier's spelling too, and would keep it when parked later.
    parked = bind.execute(sa.select(_INBOX.c.id, _INBOX.c.tracking_number).where(
        _INBOX.c.status != "done", _INBOX.c.tracking_number.is_not(None))).all()
    # As hub.identity.normalize did when this was written (Python's strip and upper, which
    # SQL's TRIM and SQLite's ASCII-only UPPER are not).
    changed = [{"row_id": row_id, "key": number.strip().upper() or None}
               for row_id, number in parked if number.strip().upper() != number]
    if changed:
        bind.execute(_INBOX.update().where(_INBOX.c.id == sa.bindparam("row_id"))
                     .values(tracking_number=sa.bindparam("key")), changed)


def downgrade() -> None:
    """Nothing to undo: the carrier's spelling is still in the encrypted payload."""
