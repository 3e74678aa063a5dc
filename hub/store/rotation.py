"""Re-encrypting customer data under the newest PII key while the hub runs
(``returnhub keys rotate``).

Every encrypted value lives in a binary column named ``*_enc`` (see :mod:`hub.store.models`);
they are found from the table definitions, so a new table is covered without a change here.
Tables are walked by primary key in small batches, one short transaction each, so ingress and
workers keep going. Each value is written back only if it is still the value that was read
(compare and set): a row the hub changed meanwhile keeps the hub's newer value, which nodes
configured with the new key first have already encrypted under it. A final pass counts what
is left under older keys; only when that is zero may the old key be removed from config.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import LargeBinary, bindparam, select, update

from hub.store.models import Base

if TYPE_CHECKING:
    from sqlalchemy import Column, Table
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from hub.security import PiiCipher

#: Suffix of the columns that hold Fernet tokens.
ENCRYPTED_SUFFIX = "_enc"


@dataclass(slots=True)
class ColumnRotation:
    """What one pass found in, and did to, one encrypted column."""

    current: int = 0        #: values already under the newest key
    rewritten: int = 0      #: values re-encrypted under it by this pass
    changed_meanwhile: int = 0  #: values the hub replaced between read and write (left as is)
    unreadable: int = 0     #: values no configured key opens (a key was removed too early)

    @property
    def remaining(self) -> int:
        """Values still under an older key after this pass (not counting rewritten ones)."""
        return self.changed_meanwhile + self.unreadable


@dataclass(slots=True)
class RotationReport:
    """Per ``table.column``, the outcome of a rotation (or, with ``dry_run``, of a count)."""

    columns: dict[str, ColumnRotation] = field(default_factory=dict)
    dry_run: bool = False

    @property
    def old_key_values(self) -> int:
        """Values that were (dry run) or still are (after a pass) under an older key."""
        if self.dry_run:
            return sum(c.rewritten + c.unreadable for c in self.columns.values())
        return sum(c.remaining for c in self.columns.values())


def encrypted_columns() -> list[tuple[Table, list[Column]]]:
    """Every table with encrypted columns, and those columns."""
    found = []
    for table in Base.metadata.sorted_tables:
        columns = [column for column in table.columns
                   if column.name.endswith(ENCRYPTED_SUFFIX)
                   and isinstance(column.type, LargeBinary)]
        if columns:
            found.append((table, columns))
    return found


async def rotate_keys(sessionmaker: async_sessionmaker, cipher: PiiCipher, *,
                      batch_size: int = 500, dry_run: bool = False) -> RotationReport:
    """Re-encrypt every value that is not under ``cipher``'s newest key (``dry_run``: only
    count them, as ``rewritten``)."""
    report = RotationReport(dry_run=dry_run)
    for table, columns in encrypted_columns():
        stats = {column.name: report.columns.setdefault(f"{table.name}.{column.name}",
                                                        ColumnRotation())
                 for column in columns}
        await _rotate_table(sessionmaker, cipher, table, columns, stats, batch_size, dry_run)
    return report


async def _rotate_table(sessionmaker: async_sessionmaker, cipher: PiiCipher, table: Table,
                        columns: list[Column], stats: dict[str, ColumnRotation],
                        batch_size: int, dry_run: bool) -> None:
    (key,) = table.primary_key.columns  # every encrypted table has a single-column key
    after = None
    while True:
        query = select(key, *columns).order_by(key).limit(batch_size)
        if after is not None:
            query = query.where(key > after)
        async with sessionmaker() as session, session.begin():
            rows = (await session.execute(query)).all()
            if not rows:
                return
            after = rows[-1][0]
            for index, column in enumerate(columns, start=1):
                changes = _reencrypt(cipher, [(row[0], row[index]) for row in rows],
                                     stats[column.name])
                if changes and not dry_run:
                    await _write(session, table, key, column, changes, stats[column.name])


def _reencrypt(cipher: PiiCipher, values: list[tuple[object, bytes | None]],
               stats: ColumnRotation) -> list[dict]:
    """The values to rewrite, as (key, old token, new token) parameters."""
    changes = []
    for row_key, token in values:
        if token is None:
            continue
        if cipher.is_current(token):
            stats.current += 1
            continue
        try:
            fresh = cipher.rotate(token)
        except ValueError:
            stats.unreadable += 1
            continue
        changes.append({"row_key": row_key, "old": token, "new": fresh})
    return changes


async def _write(session, table: Table, key: Column, column: Column,  # noqa: ANN001
                 changes: list[dict], stats: ColumnRotation) -> None:
    """Compare and set, one row at a time: the row count tells which values the hub replaced
    meanwhile (executemany does not report per-row counts on every driver)."""
    statement = (update(table).where(key == bindparam("row_key"),
                                     column == bindparam("old"))
                 .values({column.name: bindparam("new")}))
    for change in changes:
        result = await session.execute(statement, change)
        if result.rowcount:
            stats.rewritten += 1
        else:
            stats.changed_meanwhile += 1
