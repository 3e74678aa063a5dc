"""Migration 0008: returns.customer_reference and source_cursors.started_at, on SQLite (batch
mode) and PostgreSQL, keeping the rows; a cursor from before it keeps started_at empty (that
source is already onboarded: nothing it reports later is taken for history)."""

from __future__ import annotations

from sqlalchemy import inspect, text

from hub.store.engine import make_engine
from hub.store.migrate import downgrade, upgrade


async def _columns(engine, table: str) -> set[str]:
    async with engine.connect() as conn:
        return await conn.run_sync(
            lambda sync: {c["name"] for c in inspect(sync).get_columns(table)})


async def test_0008_adds_the_reference_and_the_start_and_round_trips(db_url):
    engine = make_engine(db_url)
    try:
        await upgrade(engine, "0007")
        async with engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO source_cursors (source, cursor, updated_at) "
                "VALUES ('odoo', '2025-03-12 08:15:31', CURRENT_TIMESTAMP)"))
        await upgrade(engine, "0008")
        assert "customer_reference" in await _columns(engine, "returns")
        async with engine.connect() as conn:
            row = (await conn.execute(text(
                "SELECT cursor, started_at FROM source_cursors"))).one()
        assert tuple(row) == ("2025-03-12 08:15:31", None)
        await downgrade(engine, "0007")
        assert "customer_reference" not in await _columns(engine, "returns")
        assert "started_at" not in await _columns(engine, "source_cursors")
        await upgrade(engine, "0008")
    finally:
        await engine.dispose()
