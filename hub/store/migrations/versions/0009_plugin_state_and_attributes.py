"""Plugins keep their own state through the contract (``context.state``), not the hub's
tables: ``plugin_state`` (one namespace per connector instance, values encrypted). Customers
gain ``attributes_enc``: channel addresses a source gives (``customer.attributes``, e.g. a
Slack id), encrypted like the rest of the contact.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'plugin_state',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                  autoincrement=True, nullable=False),
        sa.Column('namespace', sa.String(length=255), nullable=False),
        sa.Column('key', sa.String(length=200), nullable=False),
        sa.Column('value_enc', sa.LargeBinary(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_plugin_state')),
        sa.UniqueConstraint('namespace', 'key', name=op.f('uq_plugin_state_namespace')),
    )
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attributes_enc', sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_column('attributes_enc')
    op.drop_table('plugin_state')
