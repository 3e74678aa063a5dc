"""Migration 0007: the returns already stored get their references (own id, order number,
tracking number: the newest return keeps a number two share), so events after the upgrade find
them; on SQLite and PostgreSQL, and the downgrade drops the new tables."""

from __future__ import annotations

from sqlalchemy import inspect, text

from hub.store.engine import make_engine
from hub.store.migrate import downgrade, upgrade

_INSERT = text(
    "INSERT INTO returns (source, external_id, state, cycle, exception_flag, order_number, "
    "tracking_number, created_at, updated_at) VALUES (:source, :ref, 'approved', 0, false, "
    ":order, :tracking, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)")



async def test_existing_returns_get_their_references(db_url):
    engine = make_engine(db_url)
    try:
        await upgrade(engine, "0006")
        async with engine.begin() as conn:
            for source, ref, order, tracking in [("shop", "R-1", " #1001 ", "1z-a"),
                                                 ("erp", "RMA/1", None, "1Z-A"),
                                                 ("shop", "R-2", "#1001", None)]:
                await conn.execute(_INSERT, {"source": source, "ref": ref, "order": order,
                                             "tracking": tracking})
        await upgrade(engine, "0007")
        async with engine.connect() as conn:
            ids = dict((await conn.execute(text(
                "SELECT external_id, id FROM returns"))).all())
            refs = sorted((await conn.execute(text(
                "SELECT kind, value, slot, return_id FROM return_references"))).all())
        assert refs == sorted([
            ("id", "shop:R-1", 0, ids["R-1"]), ("id", "erp:RMA/1", 0, ids["RMA/1"]),
            ("id", "shop:R-2", 0, ids["R-2"]),
            ("order_number", "#1001", ids["R-1"], ids["R-1"]),
            ("order_number", "#1001", ids["R-2"], ids["R-2"]),
            ("tracking_number", "1Z-A", 0, ids["RMA/1"])])
        await downgrade(engine, "0006")
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        assert "return_references" not in tables and "match_decisions" not in tables
        await upgrade(engine, "0007")
    finally:
        await engine.dispose()
