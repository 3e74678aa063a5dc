"""Migration 0016: inbox rows not yet applied (parked scans, and rows that may be parked
later) written before tracking numbers were stored as references are (trimmed, upper case) are
rewritten so, and applied ones are left, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert, select

from hub.store.engine import make_engine
from hub.store.migrate import upgrade
from hub.store.models import InboxEvent

_INBOX = InboxEvent.__table__


async def test_0016_rewrites_the_tracking_numbers_of_rows_not_yet_applied(db_url):
    engine = make_engine(db_url)
    at = datetime(2026, 12, 1, tzinfo=UTC)
    rows = [("parked", " 9400111probe0000001 "), ("parked", "1Z-PARK"), ("done", "1z-done"),
            ("parked", None), ("pending", "1z-later")]
    try:
        await upgrade(engine, "0015")
        async with engine.begin() as connection:
            await connection.execute(insert(_INBOX), [
                {"source": "carrier", "source_event_id": f"e-{n}",
                 "event_type": "return.in_transit", "tracking_number": number,
                 "occurred_at": at, "received_at": at, "available_at": at,
                 "payload_enc": b"x", "status": status, "attempts": 0}
                for n, (status, number) in enumerate(rows)])
        await upgrade(engine, "0016")
        async with engine.connect() as connection:
            found = dict((await connection.execute(
                select(_INBOX.c.source_event_id, _INBOX.c.tracking_number))).all())
    finally:
        await engine.dispose()
    assert found == {"e-0": "9400111PROBE0000001", "e-1": "1Z-PARK", "e-2": "1z-done",
                     "e-3": None, "e-4": "1Z-LATER"}
