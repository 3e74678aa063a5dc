"""Migration 0015: the partial index ``ix_notifications_receipt_due`` (the claim's probe for
overdue receipts) appears on upgrade, over the rows the model declares, and goes on
downgrade, on SQLite and PostgreSQL. Alembic's comparison of models and schema
(test_migration_0010.py) sees index names and columns, not a partial index's WHERE: checked
here."""

from __future__ import annotations

from sqlalchemy import inspect

from hub.store.engine import make_engine
from hub.store.migrate import downgrade, upgrade
from hub.store.models_delivery import RECEIPT_AWAITED

INDEX = "ix_notifications_receipt_due"
#: RECEIPT_AWAITED as PostgreSQL stores it.
PG_AWAITED = "(((status)::text = 'sent'::text) AND (receipt_due_at IS NOT NULL))"


async def _index(engine) -> dict | None:  # noqa: ANN001
    async with engine.connect() as connection:
        indexes = await connection.run_sync(
            lambda sync: inspect(sync).get_indexes("notifications"))
    return next((index for index in indexes if index["name"] == INDEX), None)


async def test_0015_adds_the_receipt_due_index_and_reverses(db_url):
    engine = make_engine(db_url)
    try:
        await upgrade(engine, "0014")
        assert await _index(engine) is None
        await upgrade(engine, "0015")
        index = await _index(engine)
        assert index["column_names"] == ["status", "receipt_due_at"]
        if engine.dialect.name == "sqlite":
            assert index["dialect_options"]["sqlite_where"].text == RECEIPT_AWAITED
        else:
            assert index["dialect_options"]["postgresql_where"] == PG_AWAITED
        await downgrade(engine, "0014")
        assert await _index(engine) is None
        await upgrade(engine, "0015")
    finally:
        await engine.dispose()
