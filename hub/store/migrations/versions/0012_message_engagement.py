"""Engagement per message: ``message_engagement``, one row per notification and kind (open,
click, unsubscribe, complaint, reply) recorded from the providers' status webhooks; an index
on ``notifications (recipient_hash, sent_at)`` to find the message an SMS reply answers.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'message_engagement',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                  autoincrement=True, nullable=False),
        sa.Column('notification_id', sa.String(length=36), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('provider', sa.String(length=100), nullable=False),
        sa.Column('first_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('events', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['notification_id'], ['notifications.id'],
                                name=op.f('fk_message_engagement_notification_id_notifications')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_message_engagement')),
        sa.UniqueConstraint('notification_id', 'kind',
                            name=op.f('uq_message_engagement_notification')),
    )
    op.create_index('ix_message_engagement_kind_first', 'message_engagement',
                    ['kind', 'first_at'], unique=False)
    op.create_index('ix_notifications_recipient_sent', 'notifications',
                    ['recipient_hash', 'sent_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_notifications_recipient_sent', table_name='notifications')
    op.drop_index('ix_message_engagement_kind_first', table_name='message_engagement')
    op.drop_table('message_engagement')
