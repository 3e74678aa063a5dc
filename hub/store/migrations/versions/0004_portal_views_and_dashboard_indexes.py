"""Portal page views, and the indexes the dashboard and date searches need.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('portal_views',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('return_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('viewed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['return_id'], ['returns.id'], name=op.f('fk_portal_views_return_id_returns')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_portal_views'))
    )
    with op.batch_alter_table('portal_views', schema=None) as batch_op:
        batch_op.create_index('ix_portal_views_return', ['return_id'], unique=False)
        batch_op.create_index('ix_portal_views_viewed_at', ['viewed_at'], unique=False)

    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_created_at', ['created_at'], unique=False)
        batch_op.create_index('ix_notifications_sent_at', ['sent_at'], unique=False)

    with op.batch_alter_table('returns', schema=None) as batch_op:
        batch_op.create_index('ix_returns_created_at', ['created_at'], unique=False)

    with op.batch_alter_table('timeline_entries', schema=None) as batch_op:
        batch_op.create_index('ix_timeline_occurred_at', ['occurred_at'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('timeline_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_timeline_occurred_at')

    with op.batch_alter_table('returns', schema=None) as batch_op:
        batch_op.drop_index('ix_returns_created_at')

    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_sent_at')
        batch_op.drop_index('ix_notifications_created_at')

    with op.batch_alter_table('portal_views', schema=None) as batch_op:
        batch_op.drop_index('ix_portal_views_viewed_at')
        batch_op.drop_index('ix_portal_views_return')

    op.drop_table('portal_views')

