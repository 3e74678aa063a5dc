"""The live template library: ``template_revisions``, every template saved through the admin
API (append-only; the newest row of a path is in use on every node).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'template_revisions',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                  autoincrement=True, nullable=False),
        sa.Column('path', sa.String(length=200), nullable=False),
        sa.Column('source', sa.Text(), nullable=True),
        sa.Column('sha256', sa.String(length=64), nullable=True),
        sa.Column('token_name', sa.String(length=100), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_template_revisions')),
    )
    op.create_index('ix_template_revisions_path', 'template_revisions', ['path', 'id'])


def downgrade() -> None:
    op.drop_index('ix_template_revisions_path', table_name='template_revisions')
    op.drop_table('template_revisions')
