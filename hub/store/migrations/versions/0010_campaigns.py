"""Segments and campaigns (issue 17): ``segments``, ``campaigns`` (with the durable planning
cursor), and on ``notifications`` a ``priority`` (0 transactional, campaigns lower) and the
``campaign_id`` a campaign message belongs to.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'segments',
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('filter', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_segments')),
        sa.UniqueConstraint('name', name='uq_segments_name'),
    )
    op.create_table(
        'campaigns',
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('segment_id', _ID, nullable=False),
        sa.Column('template', sa.String(length=100), nullable=False),
        sa.Column('channels', sa.JSON(), nullable=False),
        sa.Column('category', sa.String(length=32), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('start_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('rate_per_second', sa.Float(), nullable=False),
        sa.Column('cursor', sa.BigInteger(), nullable=False),
        sa.Column('planned', sa.Integer(), nullable=False),
        sa.Column('excluded', sa.Integer(), nullable=False),
        sa.Column('pace_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('planning_done', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['segment_id'], ['segments.id'],
                                name=op.f('fk_campaigns_segment_id_segments')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_campaigns')),
        sa.UniqueConstraint('name', name='uq_campaigns_name'),
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('priority', sa.Integer(), server_default='0',
                                      nullable=False))
        batch_op.add_column(sa.Column('campaign_id', sa.BigInteger(), nullable=True))
        batch_op.create_index('ix_notifications_campaign', ['campaign_id', 'status'],
                              unique=False)
        batch_op.create_index('ix_notifications_priority_claim',
                              ['priority', 'status', 'next_attempt_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_priority_claim')
        batch_op.drop_index('ix_notifications_campaign')
        batch_op.drop_column('campaign_id')
        batch_op.drop_column('priority')
    op.drop_table('campaigns')
    op.drop_table('segments')
