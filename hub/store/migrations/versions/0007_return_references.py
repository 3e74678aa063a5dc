"""Return identity as links (issue 16): return_references (every external reference of a
return, unique per scope, kind and value) and match_decisions (an operator's answer to an
ambiguous match). Existing returns get their (source, external id) as reference ``id``, their
order number and their tracking number (the newest return keeps a number two returns share).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'return_references',
        sa.Column('id', _ID, autoincrement=True, nullable=False),
        sa.Column('scope', sa.String(length=100), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('value', sa.String(length=400), nullable=False),
        sa.Column('slot', sa.BigInteger(), nullable=False),
        sa.Column('return_id', _ID, nullable=False),
        sa.Column('source', sa.String(length=100), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['return_id'], ['returns.id'],
                                name=op.f('fk_return_references_return_id_returns')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_return_references')),
        sa.UniqueConstraint('scope', 'kind', 'value', 'slot', name='uq_return_references_key'),
    )
    with op.batch_alter_table('return_references', schema=None) as batch_op:
        batch_op.create_index('ix_return_references_return', ['return_id'], unique=False)
    op.create_table(
        'match_decisions',
        sa.Column('inbox_event_id', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('return_id', sa.BigInteger(), nullable=True),
        sa.Column('token_name', sa.String(length=100), nullable=False),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('inbox_event_id', name=op.f('pk_match_decisions')),
    )
    # The references existing returns already had, in the 'default' scope.
    op.execute(sa.text(
        "INSERT INTO return_references (scope, kind, value, slot, return_id, source, created_at) "
        "SELECT 'default', 'id', source || ':' || external_id, 0, id, source, created_at "
        "FROM returns"))
    op.execute(sa.text(
        "INSERT INTO return_references (scope, kind, value, slot, return_id, source, created_at) "
        "SELECT 'default', 'order_number', upper(trim(order_number)), id, id, source, created_at "
        "FROM returns WHERE order_number IS NOT NULL AND trim(order_number) <> ''"))
    op.execute(sa.text(
        "INSERT INTO return_references (scope, kind, value, slot, return_id, source, created_at) "
        "SELECT 'default', 'tracking_number', upper(trim(r.tracking_number)), 0, r.id, r.source, "
        "r.created_at FROM returns r WHERE r.id IN (SELECT max(id) FROM returns "
        "WHERE tracking_number IS NOT NULL AND trim(tracking_number) <> '' "
        "GROUP BY upper(trim(tracking_number)))"))


def downgrade() -> None:
    op.drop_table('match_decisions')
    with op.batch_alter_table('return_references', schema=None) as batch_op:
        batch_op.drop_index('ix_return_references_return')
    op.drop_table('return_references')
