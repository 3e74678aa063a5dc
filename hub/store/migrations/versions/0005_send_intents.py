"""Send intents: when a notification's provider call started, and with which provider.

A worker writes both just before it calls a provider (issue 13): after a crash only a row
with an intent may have reached the provider; the rest are simply pending. Rows that are
``unknown`` or ``sending`` when this migration runs get a conservative intent (since their
creation, with the provider last recorded), so they stay uncertain.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('send_started_at', sa.DateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('send_provider', sa.String(length=100), nullable=True))
    op.execute("UPDATE notifications SET send_started_at = created_at, send_provider = provider "
               "WHERE status IN ('unknown', 'sending')")


def downgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_column('send_provider')
        batch_op.drop_column('send_started_at')
