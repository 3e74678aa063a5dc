"""A partial index on ``notifications (status, receipt_due_at)`` over the ``sent`` rows still
awaiting a receipt (``ix_notifications_receipt_due``): every claim looks for the ones whose
deadline passed, and ``ix_notifications_claim`` narrowed that only to status ``sent``, which
the rows of sinks without receipts keep for good.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

#: As in hub/store/models_delivery.py (RECEIPT_AWAITED) when this migration was written.
AWAITED = "status = 'sent' AND receipt_due_at IS NOT NULL"


def upgrade() -> None:
    op.create_index('ix_notifications_receipt_due', 'notifications',
                    ['status', 'receipt_due_at'],
                    unique=False, sqlite_where=sa.text(AWAITED),
                    postgresql_where=sa.text(AWAITED))


def downgrade() -> None:
    op.drop_index('ix_notifications_receipt_due', table_name='notifications')
