"""When a return's current cycle began (``returns.cycle_started_at``: the reopen's time): an
event that happened before it belongs to an earlier cycle, and is recorded without moving the
return or telling anyone. Returns reopened before this keep it NULL (the reopen's own time is
only in its encrypted payload): for them every event counts, as before.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('returns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cycle_started_at', sa.DateTime(timezone=True),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('returns', schema=None) as batch_op:
        batch_op.drop_column('cycle_started_at')
