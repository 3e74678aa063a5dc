"""Migration 0006: returns.reason and returns.refund_method become Text, on SQLite (batch
mode: the table is rebuilt) and PostgreSQL, keeping the rows; the downgrade cuts longer values
to the old lengths so that it cannot fail."""

from __future__ import annotations

from sqlalchemy import text

from hub.store.engine import make_engine
from hub.store.migrate import downgrade, upgrade

_INSERT = text(
    "INSERT INTO returns (source, external_id, state, cycle, exception_flag, reason, "
    "refund_method, created_at, updated_at) VALUES ('shop', :ref, 'approved', 0, false, "
    ":reason, :method, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)")



async def _rows(engine) -> dict[str, tuple[str, str]]:
    async with engine.connect() as conn:
        result = await conn.execute(text("SELECT external_id, reason, refund_method FROM returns"))
        return {ref: (reason, method) for ref, reason, method in result}


async def test_free_text_columns_hold_any_length_after_0006_and_survive_a_round_trip(db_url):
    engine = make_engine(db_url)
    try:
        await upgrade(engine, "0004")
        async with engine.begin() as conn:
            await conn.execute(_INSERT, {"ref": "R-old", "reason": "r" * 255, "method": "m" * 64})
        await upgrade(engine, "0006")
        long_reason, long_method = "Torn at the seam.\n" * 300, "Store credit, " * 30
        async with engine.begin() as conn:
            await conn.execute(_INSERT, {"ref": "R-new", "reason": long_reason,
                                         "method": long_method})
        assert await _rows(engine) == {"R-old": ("r" * 255, "m" * 64),
                                       "R-new": (long_reason, long_method)}
        await downgrade(engine, "0004")
        assert await _rows(engine) == {"R-old": ("r" * 255, "m" * 64),
                                       "R-new": (long_reason[:255], long_method[:64])}
        await upgrade(engine, "0006")
    finally:
        await engine.dispose()
