"""Migration 0010: ``segments``, ``campaigns`` and ``notifications.priority`` /
``campaign_id`` appear on upgrade (existing notifications become priority 0, transactional)
and go on downgrade, on SQLite (batch mode) and PostgreSQL, keeping the notifications; and the
schema migrated to head matches the models (no difference Alembic would generate)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from hub.store.engine import make_engine
from hub.store.migrate import downgrade, upgrade
from hub.store.models import Base

NOTIFICATION = (
    "INSERT INTO notifications (id, idempotency_key, return_id, stage, channel, template, "
    "status, attempts, next_attempt_at, event_received_at, tried_providers, created_at) "
    "VALUES ('n-1', 'k-1', 1, 'approved', 'email', 'approved', 'pending', 0, "
    "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, '[]', CURRENT_TIMESTAMP)")


async def _schema(engine) -> tuple[set[str], set[str]]:
    async with engine.connect() as connection:
        def read(sync) -> tuple[set[str], set[str]]:  # noqa: ANN001
            found = inspect(sync)
            return (set(found.get_table_names()),
                    {column["name"] for column in found.get_columns("notifications")})
        return await connection.run_sync(read)


async def _differences(engine) -> list:
    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata))


async def test_the_migrated_schema_matches_the_models(db_url):
    """Every table, column and index the models declare (models.py and the side modules) is
    what the migrations build: no difference Alembic would generate at head."""
    engine = make_engine(db_url)
    try:
        await upgrade(engine)
        differences = [d for d in await _differences(engine)
                       if d[0] in ("add_table", "remove_table", "add_column", "remove_column",
                                   "add_index", "remove_index")]
        assert differences == []
    finally:
        await engine.dispose()


async def test_0010_adds_campaigns_and_priorities_and_reverses(db_url):
    engine = make_engine(db_url)
    try:
        await upgrade(engine, "0009")
        async with engine.begin() as connection:
            await connection.execute(text(
                "INSERT INTO returns (source, external_id, state, cycle, exception_flag, "
                "created_at, updated_at) VALUES ('shop', 'R-1', 'approved', 0, false, "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
            await connection.execute(text(NOTIFICATION))
        await upgrade(engine, "0010")
        tables, columns = await _schema(engine)
        assert {"segments", "campaigns"} <= tables and {"priority", "campaign_id"} <= columns
        async with engine.connect() as connection:
            assert (await connection.execute(text(
                "SELECT priority, campaign_id FROM notifications"))).all() == [(0, None)]
        await downgrade(engine, "0009")
        tables, columns = await _schema(engine)
        assert not {"segments", "campaigns"} & tables and not {"priority", "campaign_id"} & \
            columns
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT id FROM notifications"))
                    ).scalars().all() == ["n-1"]
    finally:
        await engine.dispose()
