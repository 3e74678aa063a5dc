"""Migration 0009: ``plugin_state`` (context.state) and ``customers.attributes_enc`` appear on
upgrade and go on downgrade, on SQLite (batch mode) and PostgreSQL, keeping the customers."""

from __future__ import annotations

from sqlalchemy import inspect, text

from hub.store.engine import make_engine
from hub.store.migrate import downgrade, upgrade


async def _schema(engine) -> tuple[set[str], set[str]]:
    async with engine.connect() as connection:
        def read(sync) -> tuple[set[str], set[str]]:  # noqa: ANN001
            found = inspect(sync)
            return (set(found.get_table_names()),
                    {column["name"] for column in found.get_columns("customers")})
        return await connection.run_sync(read)


async def _identities(engine) -> list[str]:
    async with engine.connect() as connection:
        return list((await connection.execute(text("SELECT identity FROM customers"))).scalars())


async def test_0009_adds_plugin_state_and_customer_attributes_and_reverses(db_url):
    engine = make_engine(db_url)
    try:
        await upgrade(engine, "0008")
        async with engine.begin() as connection:
            await connection.execute(text(
                "INSERT INTO customers (identity, preferences, created_at, updated_at) "
                "VALUES ('shop:C-1', '{}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        tables, columns = await _schema(engine)
        assert "plugin_state" not in tables and "attributes_enc" not in columns
        await upgrade(engine, "0009")
        tables, columns = await _schema(engine)
        assert "plugin_state" in tables and "attributes_enc" in columns
        assert await _identities(engine) == ["shop:C-1"]
        await downgrade(engine, "0008")
        tables, columns = await _schema(engine)
        assert "plugin_state" not in tables and "attributes_enc" not in columns
        assert await _identities(engine) == ["shop:C-1"]
        await upgrade(engine, "0009")
    finally:
        await engine.dispose()
