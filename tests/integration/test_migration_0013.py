"""Migration 0013: ``alerts`` and ``job_leases`` appear on upgrade (matching the models: one
open alert per rule and subject) and go on downgrade, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from hub.store.engine import make_engine
from hub.store.migrate import downgrade, upgrade

INSERT = ("INSERT INTO alerts (rule, kind, subject, severity, status, open_key, summary, "
          "opened_at, last_seen_at, notice_done, notices_sent) VALUES ('r', 'dead_letters', "
          "'inbox', 'critical', :status, :key, 's', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, "
          "'[]', 0)")


async def _tables(engine) -> set[str]:
    async with engine.connect() as connection:
        return await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))


async def _receipt_indexes(engine) -> set[str]:
    async with engine.connect() as connection:
        return await connection.run_sync(lambda sync: {
            index["name"] for index in inspect(sync).get_indexes("delivery_receipts")})


async def test_0013_adds_alerts_and_job_leases_and_reverses(db_url):
    engine = make_engine(db_url)
    try:
        await upgrade(engine, "0012")
        assert not {"alerts", "job_leases"} & await _tables(engine)
        assert "ix_receipts_received_at" not in await _receipt_indexes(engine)
        await upgrade(engine, "0013")
        assert {"alerts", "job_leases"} <= await _tables(engine)
        assert "ix_receipts_received_at" in await _receipt_indexes(engine)
        async with engine.begin() as connection:
            for _ in range(2):  # resolved alerts of the same rule and subject: no key, no clash
                await connection.execute(text(INSERT), {"status": "resolved", "key": None})
            await connection.execute(text(INSERT), {"status": "open", "key": "r|inbox"})
        with pytest.raises(IntegrityError):  # a second open one is refused by the store
            async with engine.begin() as connection:
                await connection.execute(text(INSERT), {"status": "open", "key": "r|inbox"})
        await downgrade(engine, "0012")
        assert not {"alerts", "job_leases"} & await _tables(engine)
        assert "ix_receipts_received_at" not in await _receipt_indexes(engine)
        await upgrade(engine, "0013")
    finally:
        await engine.dispose()
