"""Migration 0017: references and carrier scans not yet applied, written before references were
compared without whitespace and a leading ``#``, are rewritten so; where two rows become one,
the older is kept; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert, select

from hub.store.engine import make_engine
from hub.store.migrate import upgrade
from hub.store.models import InboxEvent, Return, ReturnReference

_INBOX = InboxEvent.__table__
_REFS = ReturnReference.__table__
_RETURNS = Return.__table__


async def test_0017_rewrites_reference_spellings_keeping_the_older_of_two(db_url):
    engine = make_engine(db_url)
    at = datetime(2026, 12, 1, tzinfo=UTC)
    refs = [  # (return, kind, value, slot)
        (1, "id", "store:gid://shopify/Return/1", 0),
        (1, "order_number", "#1001", 1),
        (1, "tracking_number", "9434 6508 9956 1234 5670 02", 0),
        (1, "return_name", "#1001-R1", 0),
        (2, "id", "erp:rma 7", 0),
        (2, "order_number", "1001", 2),
        (2, "order_number", "#1001", 2),  # the same order in both spellings: one is left
        (2, "tracking_number", "94346508 99561234567002", 0),  # the other return's parcel
        (2, "rma", "RMA 7", 0),
    ]
    waiting = [("parked", "9434 6508 9956 1234 5670 03"), ("done", "9434 6508 9956 1234 5670 04"),
               ("pending", "#1z 999")]
    try:
        await upgrade(engine, "0016")
        async with engine.begin() as connection:
            await connection.execute(insert(_RETURNS), [
                {"id": n, "source": "store", "external_id": f"R{n}", "state": "approved",
                 "cycle": 0, "exception_flag": False, "created_at": at, "updated_at": at}
                for n in (1, 2)])
            await connection.execute(insert(_REFS), [
                {"scope": "default", "kind": kind, "value": value, "slot": slot,
                 "return_id": ret, "source": "s", "created_at": at}
                for ret, kind, value, slot in refs])
            await connection.execute(insert(_INBOX), [
                {"source": "carrier", "source_event_id": f"e-{n}",
                 "event_type": "return.in_transit", "tracking_number": number,
                 "occurred_at": at, "received_at": at, "available_at": at,
                 "payload_enc": b"x", "status": status, "attempts": 0}
                for n, (status, number) in enumerate(waiting)])
        await upgrade(engine, "0017")
        async with engine.connect() as connection:
            found = sorted((await connection.execute(
                select(_REFS.c.return_id, _REFS.c.kind, _REFS.c.value))).all())
            keys = dict((await connection.execute(
                select(_INBOX.c.source_event_id, _INBOX.c.tracking_number))).all())
    finally:
        await engine.dispose()
    assert found == [
        (1, "id", "store:gid://shopify/Return/1"), (1, "order_number", "1001"),
        (1, "return_name", "1001-R1"), (1, "tracking_number", "9434650899561234567002"),
        (2, "id", "erp:rma 7"), (2, "order_number", "1001"), (2, "rma", "RMA7")]
    assert keys == {"e-0": "9434650899561234567003", "e-1": "9434 6508 9956 1234 5670 04",
                    "e-2": "1Z999"}
