"""The index the claim's "earlier stage still on its way" test looks up: a notification's
return, channel and priority (``ix_notifications_return_channel``, in place of
``ix_notifications_return`` on the return alone, which it also serves).

Without it PostgreSQL checked each candidate against the priority index's every unfinished
row. Over 2,000 notifications on a quiet machine a claim took 0.18 s with the table's size
known, 0.08 s with this index; before the table's first ANALYZE 1.5 s, 1.0 s with it (the
chaos run saw 3–4 s claims, longer than its leases: docs/reliability.md). The index is built
in the upgrade's transaction: on PostgreSQL, writes to the notifications wait until it is
(seconds for a million rows; docs/operations.md).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_return_channel',
                              ['return_id', 'channel', 'priority'], unique=False)
        batch_op.drop_index('ix_notifications_return')


def downgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_return', ['return_id'], unique=False)
        batch_op.drop_index('ix_notifications_return_channel')
