"""Migration 0011: ``notifications.category`` (existing rows become transactional) and
``marketing_consents`` appear on upgrade and go on downgrade, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import inspect, text

from hub.store.engine import make_engine
from hub.store.migrate import downgrade, upgrade


async def _schema(engine) -> tuple[set[str], set[str]]:
    async with engine.connect() as connection:
        def read(sync) -> tuple[set[str], set[str]]:  # noqa: ANN001
            found = inspect(sync)
            return (set(found.get_table_names()),
                    {column["name"] for column in found.get_columns("notifications")})
        return await connection.run_sync(read)


async def test_0011_adds_category_and_consent_and_reverses(db_url):
    engine = make_engine(db_url)
    try:
        await upgrade(engine, "0009")
        async with engine.begin() as connection:
            await connection.execute(text(
                "INSERT INTO returns (source, external_id, state, cycle, exception_flag, "
                "created_at, updated_at) VALUES ('shop', 'R-1', 'approved', 0, false, "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
            return_id = (await connection.execute(text("SELECT id FROM returns"))).scalar()
            await connection.execute(text(
                "INSERT INTO notifications (id, idempotency_key, return_id, stage, channel, "
                "template, status, attempts, next_attempt_at, event_received_at, "
                "tried_providers, created_at) VALUES ('n-1', 'k-1', :rid, 'approved', 'email', "
                "'approved', 'sent', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, '[]', "
                "CURRENT_TIMESTAMP)"), {"rid": return_id})
        tables, columns = await _schema(engine)
        assert "marketing_consents" not in tables and "category" not in columns
        await upgrade(engine, "0011")
        tables, columns = await _schema(engine)
        assert "marketing_consents" in tables and "category" in columns
        async with engine.connect() as connection:
            category = (await connection.execute(
                text("SELECT category FROM notifications WHERE id = 'n-1'"))).scalar()
        assert category == "transactional"
        await downgrade(engine, "0009")
        tables, columns = await _schema(engine)
        assert "marketing_consents" not in tables and "category" not in columns
        await upgrade(engine, "0011")
    finally:
        await engine.dispose()
