"""Migration 0014: ``template_revisions`` (the live template library) appears on upgrade and
goes on downgrade, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import inspect

from hub.store.engine import make_engine
from hub.store.migrate import downgrade, upgrade


async def _tables(engine) -> set[str]:
    async with engine.connect() as connection:
        return await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))


async def test_0014_adds_template_revisions_and_reverses(db_url):
    engine = make_engine(db_url)
    try:
        await upgrade(engine, "0013")
        assert "template_revisions" not in await _tables(engine)
        await upgrade(engine, "0014")
        assert "template_revisions" in await _tables(engine)
        await downgrade(engine, "0013")
        assert "template_revisions" not in await _tables(engine)
        await upgrade(engine, "0014")
    finally:
        await engine.dispose()
