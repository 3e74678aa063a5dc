"""Alerts: ``alerts`` (one open alert per rule and subject, the notice still owed),
``job_leases`` (one node at a time runs the alert evaluator) and an index on
``delivery_receipts.received_at`` (the rate rules read a recent window).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'alerts',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                  autoincrement=True, nullable=False),
        sa.Column('rule', sa.String(length=100), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('subject', sa.String(length=200), nullable=False),
        sa.Column('severity', sa.String(length=16), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('open_key', sa.String(length=320), nullable=True),
        sa.Column('value', sa.Float(), nullable=True),
        sa.Column('summary', sa.Text(), nullable=False),
        sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('notice', sa.String(length=16), nullable=True),
        sa.Column('notice_done', sa.JSON(), nullable=False),
        sa.Column('notices_sent', sa.Integer(), nullable=False),
        sa.Column('last_notified_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('notice_error', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_alerts')),
        sa.UniqueConstraint('open_key', name='uq_alerts_open_key'),
    )
    op.create_index('ix_alerts_opened_at', 'alerts', ['opened_at'])
    op.create_index('ix_alerts_notice', 'alerts', ['notice'])
    # The bounce and complaint rate rules read a recent window of receipts every pass.
    op.create_index('ix_receipts_received_at', 'delivery_receipts', ['received_at'])
    op.create_table(
        'job_leases',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('lease_owner', sa.String(length=64), nullable=True),
        sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_job_leases')),
    )


def downgrade() -> None:
    op.drop_table('job_leases')
    op.drop_index('ix_receipts_received_at', table_name='delivery_receipts')
    op.drop_index('ix_alerts_notice', table_name='alerts')
    op.drop_index('ix_alerts_opened_at', table_name='alerts')
    op.drop_table('alerts')
