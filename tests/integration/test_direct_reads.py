"""hub.store.direct_reads: a batch's reads and ``IN``-list updates straight on SQLite's
connection return exactly what ``session.execute`` returns (types, time zones, JSON, order),
change exactly what it changes, and fall back to it wherever that is not safe. On PostgreSQL
it is ``session.execute``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import bindparam, insert, select, tuple_, update
from sqlalchemy.exc import StatementError

from hub.store import direct_reads
from hub.store.direct_reads import fetch
from hub.store.models import Return, TimelineEntry
from hub.store.sqlite_driver import InLoopConnection
from tests.conftest import migrated_store

TIMELINE = TimelineEntry.__table__
RETURNS = Return.__table__
MOMENT = datetime(2026, 12, 4, 9, 30, 0, 123456, tzinfo=UTC)

#: Rows of some returns, an outcome among a constant list, in id order (the shape of the
#: hub's batch reads: an expanding list, a constant list, a typed parameter).
READ = select(TIMELINE.c.id, TIMELINE.c.return_id, TIMELINE.c.occurred_at, TIMELINE.c.detail,
              TIMELINE.c.to_state).where(
    TIMELINE.c.return_id.in_(bindparam("return_ids", expanding=True)),
    TIMELINE.c.outcome.in_(("moved", "ignored")),
    TIMELINE.c.occurred_at >= bindparam("since", type_=TIMELINE.c.occurred_at.type),
).order_by(TIMELINE.c.id)
#: The shape of the send intents: an UPDATE by an id list, returning the ids it changed.
MOVE = (update(TIMELINE).where(TIMELINE.c.id.in_(bindparam("ids", expanding=True)),
                               TIMELINE.c.outcome == bindparam("b_outcome"))
        .values(recorded_at=bindparam("at", type_=TIMELINE.c.recorded_at.type),
                to_state=bindparam("state"))
        .returning(TIMELINE.c.id))


@pytest.fixture
async def store(db_url):
    async with migrated_store(db_url) as (sessions, statements):
        async with sessions() as session, session.begin():
            await session.execute(insert(RETURNS), [
                {"source": "shop", "external_id": f"R-{n}", "state": "approved", "cycle": 0,
                 "exception_flag": False, "created_at": MOMENT, "updated_at": MOMENT}
                for n in (1, 2, 3)])
            ids = list((await session.execute(select(RETURNS.c.id).order_by(RETURNS.c.id)))
                       .scalars())
            await session.execute(insert(TIMELINE), [
                {"return_id": ids[n % 3], "kind": "event",
                 "outcome": ("moved", "ignored", "failed")[n % 3 if n % 2 else 0],
                 "event_type": "return.approved", "from_state": None,
                 "to_state": None if n % 4 == 0 else "approved", "inbox_event_id": n,
                 "notification_id": None, "detail": {"n": n, "name": "Zoë ✓", "list": [1, None]},
                 "occurred_at": MOMENT + timedelta(seconds=n), "recorded_at": MOMENT}
                for n in range(12)])
        yield sessions, statements, ids, db_url.startswith("sqlite")


async def _both(sessions, statement, params):
    """(what fetch returns inside a write transaction, what session.execute returns there),
    each rolled back."""
    found = []
    for direct in (True, False):
        async with sessions() as session:
            await session.begin()
            try:
                if direct:
                    rows = list(await fetch(session, statement, params))
                else:
                    result = await session.execute(statement, params)
                    rows = list(result.all()) if result.returns_rows else []
                found.append([tuple(row) for row in rows])
            finally:
                await session.rollback()
    return found


async def test_a_read_with_lists_returns_what_the_session_returns(store):
    sessions, _statements, returns, _sqlite = store
    params = {"return_ids": returns[:2], "since": MOMENT + timedelta(seconds=2)}
    direct, session_rows = await _both(sessions, READ, params)
    assert direct == session_rows
    assert direct and all(isinstance(row[3], dict) for row in direct)
    assert all(row[2].tzinfo is not None for row in direct)
    assert {row[4] for row in direct} == {None, "approved"}


async def test_an_update_by_a_list_changes_and_returns_what_the_session_does(store):
    sessions, _statements, _returns, _sqlite = store
    async with sessions() as session:
        ids = list((await session.execute(select(TIMELINE.c.id).order_by(TIMELINE.c.id)))
                   .scalars())
    params = {"ids": ids[:7], "b_outcome": "moved", "at": MOMENT + timedelta(hours=1),
              "state": "received"}
    direct, session_rows = await _both(sessions, MOVE, params)
    assert sorted(direct) == sorted(session_rows) and direct
    async with sessions() as session, session.begin():
        changed = {row[0] for row in await fetch(session, MOVE, params)}
    async with sessions() as session:
        rows = (await session.execute(select(TIMELINE.c.id, TIMELINE.c.recorded_at,
                                             TIMELINE.c.to_state))).all()
    moved = {row.id for row in rows if row.to_state == "received"}
    assert moved == changed
    assert {row.recorded_at for row in rows if row.id in moved} == {MOMENT + timedelta(hours=1)}


async def test_the_direct_path_is_taken_on_sqlite_inside_a_write_transaction(store,
                                                                             monkeypatch):
    sessions, statements, returns, sqlite = store
    runs = []
    real = InLoopConnection.write_returning
    monkeypatch.setattr(InLoopConnection, "write_returning",
                        lambda self, sql, params: runs.append(sql) or real(self, sql, params))
    params = {"return_ids": returns, "since": MOMENT}
    before = len(statements)
    async with sessions() as session, session.begin():
        inside = [tuple(row) for row in await fetch(session, READ, params)]
    assert len(inside) == 10
    through_session = [sql for sql in statements[before:] if "timeline_entries" in sql]
    if sqlite:  # straight on the connection: SQLAlchemy saw no statement
        assert len(runs) == 1 and runs[0].count("?") == len(returns) + 2 + 1
        assert through_session == []
    else:  # PostgreSQL: the session's, as before
        assert runs == [] and len(through_session) == 1
    before = len(statements)
    async with sessions() as session, session.begin():
        assert await fetch(session, READ, {**params, "return_ids": []}) == []  # empty: session
    assert len(runs) == (1 if sqlite else 0)
    assert any("timeline_entries" in sql for sql in statements[before:])


async def test_a_statement_with_a_python_default_goes_through_the_session(store):
    sessions, statements, returns, sqlite = store
    add = insert(TIMELINE).values(  # timeline_entries.detail is left to its Python default
        return_id=bindparam("return_id"), kind="event", outcome="moved",
        inbox_event_id=None, notification_id=None, occurred_at=MOMENT, recorded_at=MOMENT
    ).returning(TIMELINE.c.id, TIMELINE.c.detail)
    async with sessions() as session, session.begin():
        before = len(statements)
        [(_id, detail)] = await fetch(session, add, {"return_id": returns[0]})
    assert detail == {}
    assert any(sql.startswith("INSERT INTO timeline_entries") for sql in statements[before:])
    if sqlite:
        assert direct_reads._PLANS[(add, "sqlite")] is None


async def test_a_list_of_typed_values_is_bound_item_by_item(store):
    sessions, _statements, _returns, _sqlite = store
    times = bindparam("times", expanding=True, type_=TIMELINE.c.occurred_at.type)
    at = select(TIMELINE.c.inbox_event_id).where(TIMELINE.c.occurred_at.in_(times)).order_by(
        TIMELINE.c.inbox_event_id)
    # Aware datetimes in another zone: each item goes through UtcDateTime's processor.
    zone = timezone(timedelta(hours=-5))
    params = {"times": [(MOMENT + timedelta(seconds=n)).astimezone(zone) for n in (1, 4, 9)]}
    direct, session_rows = await _both(sessions, at, params)
    assert direct == session_rows == [(1,), (4,), (9,)]


@pytest.mark.parametrize("shape", ["tuple IN", "computed value", "a column's name"])
async def test_what_the_direct_path_cannot_write_goes_through_the_session(store, shape):
    sessions, _statements, returns, _sqlite = store
    async with sessions() as session:
        ids = list((await session.execute(select(TIMELINE.c.id).order_by(TIMELINE.c.id)))
                   .scalars())
    if shape == "tuple IN":
        statement = select(TIMELINE.c.id).where(tuple_(TIMELINE.c.return_id, TIMELINE.c.id).in_(
            bindparam("pairs", expanding=True))).order_by(TIMELINE.c.id)
        params = {"pairs": [(returns[0], ids[0]), (returns[1], ids[1])]}
        expected = [(ids[0],), (ids[1],)]
    elif shape == "computed value":
        counter = iter(range(1, 100))
        statement = select(TIMELINE.c.id).where(TIMELINE.c.inbox_event_id == bindparam(
            "n", callable_=lambda: next(counter))).order_by(TIMELINE.c.id)
        params = {}
        expected = None  # a different row on each call
    else:  # an UPDATE given a value for one of its table's columns: SQLAlchemy sets it
        statement = update(TIMELINE).where(TIMELINE.c.id.in_(bindparam("ids", expanding=True)))
        params = {"ids": ids[:2], "to_state": "closed"}
        expected = []
    found = []
    for _ in range(2):
        async with sessions() as session, session.begin():
            found.append([tuple(row) for row in await fetch(session, statement, params)])
    if expected is None:
        assert found[0] != found[1] and all(len(rows) == 1 for rows in found)
    else:
        assert found == [expected, expected]
    if shape == "a column's name":
        async with sessions() as session:
            states = set((await session.execute(select(TIMELINE.c.to_state).where(
                TIMELINE.c.id.in_(ids[:2])))).scalars())
        assert states == {"closed"}


async def test_a_missing_parameter_and_a_value_no_type_takes_fail_as_they_should(store):
    sessions, _statements, returns, _sqlite = store
    for direct in (True, False):
        params = {"return_ids": returns}
        async with sessions() as session, session.begin():
            with pytest.raises(StatementError, match="since"):
                if direct:
                    await fetch(session, READ, params)
                else:
                    await session.execute(READ, params)
    for direct in (True, False):
        params = {"return_ids": returns, "since": "not a time"}
        async with sessions() as session, session.begin():
            with pytest.raises(StatementError) as raised:
                if direct:
                    await fetch(session, READ, params)
                else:
                    await session.execute(READ, params)
        assert type(raised.value.orig) is AttributeError  # the type's bind processor said no
        assert "not a time" not in str(raised.value)
