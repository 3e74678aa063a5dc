"""Free text from the platforms is unbounded: returns.reason and returns.refund_method become
Text (a reason over 255 characters was acknowledged, then refused by PostgreSQL when applied).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('returns', schema=None) as batch_op:
        batch_op.alter_column('reason', existing_type=sa.String(length=255),
                              type_=sa.Text(), existing_nullable=True)
        batch_op.alter_column('refund_method', existing_type=sa.String(length=64),
                              type_=sa.Text(), existing_nullable=True)


def downgrade() -> None:
    # Longer values would not fit back: they are cut to the old lengths.
    op.execute(sa.text("UPDATE returns SET reason = substr(reason, 1, 255) "
                       "WHERE length(reason) > 255"))
    op.execute(sa.text("UPDATE returns SET refund_method = substr(refund_method, 1, 64) "
                       "WHERE length(refund_method) > 64"))
    with op.batch_alter_table('returns', schema=None) as batch_op:
        batch_op.alter_column('refund_method', existing_type=sa.Text(),
                              type_=sa.String(length=64), existing_nullable=True)
        batch_op.alter_column('reason', existing_type=sa.Text(),
                              type_=sa.String(length=255), existing_nullable=True)
