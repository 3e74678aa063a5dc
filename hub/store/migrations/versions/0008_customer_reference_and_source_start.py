"""What the customer calls a return (returns.customer_reference) and when a polled source was
first polled (source_cursors.started_at: older changes are its history, imported per its
onboarding policy). Existing cursors keep started_at NULL: those sources are already onboarded.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('returns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('customer_reference', sa.String(length=255), nullable=True))
    with op.batch_alter_table('source_cursors', schema=None) as batch_op:
        batch_op.add_column(sa.Column('started_at', sa.DateTime(timezone=True),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('source_cursors', schema=None) as batch_op:
        batch_op.drop_column('started_at')
    with op.batch_alter_table('returns', schema=None) as batch_op:
        batch_op.drop_column('customer_reference')
