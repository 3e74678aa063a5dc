"""Message categories and marketing consent: ``notifications.category`` (transactional by
default, so every existing message keeps its meaning) and ``marketing_consents``, one row per
grant or withdrawal with its source and time (the history is the table).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('category', sa.String(length=16), nullable=False,
                                      server_default='transactional'))
    op.create_table(
        'marketing_consents',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                  autoincrement=True, nullable=False),
        sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                  nullable=False),
        sa.Column('channel', sa.String(length=32), nullable=False),
        sa.Column('granted', sa.Boolean(), nullable=False),
        sa.Column('source', sa.String(length=32), nullable=False),
        sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('withdrawn_by_stop', sa.Boolean(), nullable=False,
                  server_default=sa.false()),
        sa.ForeignKeyConstraint(['customer_id'], ['customers.id'],
                                name=op.f('fk_marketing_consents_customer_id_customers')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_marketing_consents')),
    )
    op.create_index('ix_marketing_consents_customer', 'marketing_consents',
                    ['customer_id', 'channel', 'id'])


def downgrade() -> None:
    op.drop_index('ix_marketing_consents_customer', table_name='marketing_consents')
    op.drop_table('marketing_consents')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_column('category')
