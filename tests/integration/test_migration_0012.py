"""Migration 0012: ``message_engagement`` appears on upgrade and goes on downgrade, on SQLite
and PostgreSQL, and its one row per (notification, kind) is enforced by the database."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from hub.store.engine import make_engine
from hub.store.migrate import downgrade, upgrade


async def _tables(engine) -> set[str]:
    async with engine.connect() as connection:
        return await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))


ROW = ("INSERT INTO message_engagement (notification_id, kind, provider, first_at, last_at, "
       "events) VALUES ('n-1', 'open', 'sg', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1)")


async def test_0012_adds_message_engagement_and_reverses(db_url):
    engine = make_engine(db_url)
    try:
        await upgrade(engine, "0011")
        assert "message_engagement" not in await _tables(engine)
        await upgrade(engine, "0012")
        assert "message_engagement" in await _tables(engine)
        async with engine.begin() as connection:
            await connection.execute(text(
                "INSERT INTO returns (source, external_id, state, cycle, exception_flag, "
                "created_at, updated_at) VALUES ('shop', 'R-1', 'approved', 0, false, "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
            await connection.execute(text(
                "INSERT INTO notifications (id, idempotency_key, return_id, stage, channel, "
                "template, status, attempts, next_attempt_at, event_received_at, "
                "tried_providers, created_at) SELECT 'n-1', 'k-1', id, 'approved', 'email', "
                "'approved', 'sent', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, '[]', "
                "CURRENT_TIMESTAMP FROM returns"))
            await connection.execute(text(ROW))
        with pytest.raises(IntegrityError):
            async with engine.begin() as connection:
                await connection.execute(text(ROW))
        await downgrade(engine, "0011")
        assert "message_engagement" not in await _tables(engine)
        await upgrade(engine, "0012")
    finally:
        await engine.dispose()
