"""References are stored without whitespace and without a leading ``#`` (besides trimmed and
in upper case; ``hub.identity.normalize``): ``#1001`` and ``1001`` are one order, ``9434 6508
9956 1234 5670 02`` and ``9434650899561234567002`` one parcel. References and parked carrier
scans written before kept those spellings and would have made second returns, or waited for
good; they are rewritten here. Where two rows become one (a return holding both spellings of
an order, or two returns each holding one spelling of a tracking number), the older row is
kept, as linking leaves a reference to the return that holds it.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

_REFS = sa.table("return_references", sa.column("id", sa.BigInteger),
                 sa.column("scope", sa.String), sa.column("kind", sa.String),
                 sa.column("value", sa.String), sa.column("slot", sa.BigInteger))
_INBOX = sa.table("inbox_events", sa.column("id", sa.BigInteger),
                  sa.column("tracking_number", sa.String), sa.column("status", sa.String))


def _spelling(value: str) -> str | None:
    """As hub.identity.normalize spells a reference other than an id when this was written."""
    return "".join(value.split()).lstrip("#").upper() or None


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(_REFS.c.id, _REFS.c.scope, _REFS.c.kind, _REFS.c.value,
                                  _REFS.c.slot).where(_REFS.c.kind != "id")
                        .order_by(_REFS.c.id)).all()
    keeper: dict[tuple, int] = {}  # the oldest row of each key after rewriting
    for row_id, scope, kind, value, slot in rows:
        keeper.setdefault((scope, kind, _spelling(value), slot), row_id)
    changed, dropped = [], []
    for row_id, scope, kind, value, slot in rows:
        spelled = _spelling(value)
        if spelled is None or keeper[(scope, kind, spelled, slot)] != row_id:
            dropped.append(row_id)
        elif spelled != value:
            changed.append({"row_id": row_id, "spelled": spelled})
    if dropped:
        bind.execute(_REFS.delete().where(_REFS.c.id.in_(dropped)))
    if changed:
        bind.execute(_REFS.update().where(_REFS.c.id == sa.bindparam("row_id"))
                     .values(value=sa.bindparam("spelled")), changed)
    # Carrier scans not yet applied keep their key as tracking-number references are spelled.
    waiting = bind.execute(sa.select(_INBOX.c.id, _INBOX.c.tracking_number).where(
        _INBOX.c.status != "done", _INBOX.c.tracking_number.is_not(None))).all()
    rekeyed = [{"row_id": row_id, "key": _spelling(number)}
               for row_id, number in waiting if _spelling(number) != number]
    if rekeyed:
        bind.execute(_INBOX.update().where(_INBOX.c.id == sa.bindparam("row_id"))
                     .values(tracking_number=sa.bindparam("key")), rekeyed)


def downgrade() -> None:
    """Nothing to undo: the platforms' spellings are still in the encrypted payloads."""
