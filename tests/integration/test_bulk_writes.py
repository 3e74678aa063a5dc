"""hub.store.bulk: a batch's executemany (and INSERT ... RETURNING) straight on SQLite's
connection writes exactly what ``session.execute`` writes, falls back to it wherever that is
not safe, and fails as it does. On PostgreSQL it is ``session.execute``."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError, StatementError

from hub.store.bulk import execute_many, execute_returning
from hub.store.dialect import insert_ignoring_conflicts
from hub.store.failures import is_refusal
from hub.store.models import Return, TimelineEntry
from tests.conftest import migrated_store

TIMELINE = TimelineEntry.__table__
RETURNS = Return.__table__
INSERT_TIMELINE = insert(TIMELINE)
UPDATE_OUTCOME = update(TIMELINE).where(TIMELINE.c.id == bindparam("row_id"))


@pytest.fixture
async def store(db_url):
    async with migrated_store(db_url) as (sessions, statements):
        now = datetime(2026, 12, 4, 17, 0, 0, 123456, tzinfo=UTC)
        async with sessions() as session, session.begin():
            await session.execute(insert(RETURNS), [
                {"source": "shop", "external_id": f"R-{n}", "state": "approved", "cycle": 0,
                 "exception_flag": False, "created_at": now, "updated_at": now}
                for n in (1, 2)])
        ids = [row for (row,) in await _read(sessions,
                                             select(RETURNS.c.id).order_by(RETURNS.c.id))]
        yield sessions, statements, ids, db_url.startswith("sqlite")


async def _read(sessions, query):
    async with sessions() as session:
        return (await session.execute(query)).all()


def _rows(return_id: int, start: int, count: int) -> list[dict]:
    moment = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)
    return [{"return_id": return_id, "kind": "event", "outcome": "moved",
             "event_type": "return.approved", "from_state": None, "to_state": "approved",
             "inbox_event_id": start + n, "notification_id": None,
             "detail": {"n": n, "name": "Zoë ✓", "nested": [1, None, "x"]},
             "occurred_at": moment + timedelta(microseconds=n),
             "recorded_at": moment.astimezone(UTC)} for n in range(count)]


COLUMNS = [TIMELINE.c[name] for name in (
    "return_id", "kind", "outcome", "event_type", "from_state", "to_state", "inbox_event_id",
    "notification_id", "detail", "occurred_at", "recorded_at")]


async def test_rows_written_directly_read_back_as_the_sessions_do(store):
    sessions, statements, (first, second), sqlite = store
    async with sessions() as session, session.begin():
        await session.execute(INSERT_TIMELINE, _rows(first, 0, 7))
        statements.clear()
        await execute_many(session, INSERT_TIMELINE, _rows(second, 0, 7))
    # On SQLite the rows went straight to the driver: SQLAlchemy executed nothing for them.
    assert (statements == []) is sqlite
    by_session = await _read(sessions, select(*COLUMNS).where(TIMELINE.c.return_id == first)
                             .order_by(TIMELINE.c.id))
    direct = await _read(sessions, select(*COLUMNS).where(TIMELINE.c.return_id == second)
                         .order_by(TIMELINE.c.id))
    assert len(direct) == 7
    assert [row[1:] for row in direct] == [row[1:] for row in by_session]
    assert direct[3].occurred_at == datetime(2026, 12, 4, 9, 30, 0, 3, tzinfo=UTC)
    assert direct[3].detail == {"n": 3, "name": "Zoë ✓", "nested": [1, None, "x"]}


async def test_an_update_per_row_changes_exactly_those_rows(store):
    sessions, _statements, (first, _second), _sqlite = store
    async with sessions() as session, session.begin():
        await execute_many(session, INSERT_TIMELINE, _rows(first, 0, 4))
    ids = [row for (row,) in await _read(sessions, select(TIMELINE.c.id).order_by(TIMELINE.c.id))]
    async with sessions() as session, session.begin():
        await execute_many(session, UPDATE_OUTCOME, [
            {"row_id": ids[1], "outcome": "late", "detail": {"why": "old"}},
            {"row_id": ids[3], "outcome": "duplicate", "detail": {}}])
    found = await _read(sessions, select(TIMELINE.c.outcome, TIMELINE.c.detail)
                        .order_by(TIMELINE.c.id))
    assert [tuple(row) for row in found] == [
        ("moved", {"n": 0, "name": "Zoë ✓", "nested": [1, None, "x"]}),
        ("late", {"why": "old"}),
        ("moved", {"n": 2, "name": "Zoë ✓", "nested": [1, None, "x"]}),
        ("duplicate", {})]


async def test_a_column_left_to_its_default_goes_through_the_session(store):
    """``detail`` has a Python-side default: SQLAlchemy fills it in, so the direct path is
    not taken and the default is written."""
    sessions, statements, (first, _second), _sqlite = store
    rows = [{key: value for key, value in row.items() if key != "detail"}
            for row in _rows(first, 0, 2)]
    async with sessions() as session, session.begin():
        statements.clear()
        await execute_many(session, INSERT_TIMELINE, rows)
    assert statements  # through SQLAlchemy
    found = await _read(sessions, select(TIMELINE.c.detail))
    assert [row.detail for row in found] == [{}, {}]


async def test_rows_with_other_keys_fail_as_the_session_fails_them(store):
    sessions, _statements, (first, _second), _sqlite = store
    rows = _rows(first, 0, 2)
    rows[1] = {**{k: v for k, v in rows[1].items() if k != "to_state"}, "extra": 1}
    with pytest.raises(StatementError):
        async with sessions() as session, session.begin():
            await execute_many(session, INSERT_TIMELINE, rows)
    assert await _read(sessions, select(TIMELINE.c.id)) == []


async def test_a_refused_row_is_sqlalchemys_error_and_quotes_no_value(store):
    """A missing return (foreign key) refuses the batch as SQLAlchemy would, its message
    without the rows' values (which may be personal data), and nothing is written."""
    sessions, _statements, (first, _second), _sqlite = store
    rows = _rows(first, 0, 3)
    rows[2]["return_id"] = 999_999
    rows[2]["detail"] = {"email": "jane@example.com"}
    with pytest.raises(IntegrityError) as caught:
        async with sessions() as session, session.begin():
            await execute_many(session, INSERT_TIMELINE, rows)
    assert "jane@example.com" not in str(caught.value)
    assert await _read(sessions, select(TIMELINE.c.id)) == []


def _returns(names: list[str]) -> list[dict]:
    now = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)
    return [{"source": "erp", "external_id": name, "state": "requested", "cycle": 0,
             "exception_flag": False, "created_at": now, "updated_at": now} for name in names]


async def test_inserted_rows_come_back_with_their_ids_in_as_many_statements_as_it_takes(store):
    """``execute_returning``: one multi-row INSERT ... RETURNING per as many rows as SQLite
    takes parameters (here cut to 40, so 45 rows of 7 values need 8 statements); a row whose
    key is taken is skipped and not returned; the ids are the rows'."""
    sessions, statements, _ids, sqlite = store
    async with sessions() as session, session.begin():
        statement = insert_ignoring_conflicts(session, RETURNS, "source", "external_id") \
            .returning(RETURNS.c.id, RETURNS.c.external_id)
        if sqlite:
            connection = await session.connection()
            raw = connection.sync_connection.connection.driver_connection
            raw._conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 40)
        statements.clear()
        names = [f"RMA-{n}" for n in range(45)]
        first = await execute_returning(session, statement, _returns(names))
        again = await execute_returning(session, statement, _returns(["RMA-3", "RMA-new"]))
    assert statements == [] if sqlite else len(statements) >= 2
    assert sorted(name for _id, name in first) == sorted(names)
    assert [name for _id, name in again] == ["RMA-new"]
    stored = dict((name, id_) for id_, name in await _read(
        sessions, select(RETURNS.c.id, RETURNS.c.external_id).where(RETURNS.c.source == "erp")))
    assert {name: id_ for id_, name in [*first, *again]} == stored
    assert len(stored) == 46


async def test_a_value_no_processor_takes_is_a_refusal_on_both_paths(store):
    """A naive datetime is refused while binding: ``StatementError``, which the group commit
    takes for a refused row (one answer 422, the rest of the group stored), on the direct path
    as through the session."""
    sessions, _statements, (first, _second), _sqlite = store
    rows = _rows(first, 0, 2)
    rows[1]["occurred_at"] = datetime(2026, 12, 4, 9, 30)
    for write in (execute_many, lambda session, statement, batch: session.execute(statement,
                                                                                 batch)):
        with pytest.raises(StatementError) as caught:
            async with sessions() as session, session.begin():
                await write(session, INSERT_TIMELINE, rows)
        assert is_refusal(caught.value)
    assert await _read(sessions, select(TIMELINE.c.id)) == []
