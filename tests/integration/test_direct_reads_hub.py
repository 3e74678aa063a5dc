"""The hub's own statements run by hub.store.direct_reads (send intents, lease checks, the
earlier-stage check, finished inbox rows, match decisions) return and change exactly what
``session.execute`` returns and changes, on rows a real pipeline wrote, on SQLite (where
``fetch`` runs them straight on the connection) and PostgreSQL (where it is the session)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from hub.delivery.intent import _INTENT
from hub.events import ReturnEvent
from hub.identity import Reference
from hub.runtime import Hub
from hub.store import references
from hub.store.direct_reads import fetch
from hub.store.engine import utcnow
from hub.store.inbox import _STILL_LEASED as INBOX_STILL_LEASED
from hub.store.models import (
    Customer,
    InboxEvent,
    MatchDecision,
    Notification,
    Return,
    ReturnReference,
)
from hub.store.outbox import _STILL_LEASED as OUTBOX_STILL_LEASED
from hub.store.outbox import _UNFINISHED_CHANNELS
from hub.store.references import _DECISIONS_FOR
from hub.store.returns_repo import _INBOX_DONE, ReturnsBatch
from hub.testing.factories import event_payload

NOTIFICATIONS = Notification.__table__
INBOX = InboxEvent.__table__
DECISIONS = MatchDecision.__table__
OWNER = "worker-a"


@pytest.fixture(autouse=True)
async def sent(hub: Hub) -> None:
    """The conftest's hub, whose pipeline has applied and sent six returns' approvals."""
    await hub.inbox.submit([ReturnEvent.model_validate({
        **event_payload("return.approved", f"R-direct-{n}"), "source": "shop",
        "source_event_id": f"R-direct-{n}-a"}) for n in range(6)], utcnow())
    await hub.drain()


async def _both(hub: Hub, prepare: Callable[[Any], Awaitable[None]], statement: Any,
                params: dict[str, Any], table: Any, order: Any = None
                ) -> list[tuple[list, list]]:
    """For fetch and for session.execute, each in a write transaction rolled back after: the
    rows returned, and the table as the statement left it."""
    found = []
    for direct in (True, False):
        async with hub.sessionmaker() as session:
            await session.begin()
            try:
                await prepare(session)
                if direct:
                    rows = [tuple(row) for row in await fetch(session, statement, params)]
                else:
                    result = await session.execute(statement, params)
                    rows = [tuple(row) for row in result.all()] if result.returns_rows else []
                state = [tuple(row) for row in (await session.execute(
                    select(table).order_by(table.c.id if order is None else order))).all()]
                found.append((sorted(rows, key=repr), state))
            finally:
                await session.rollback()
    return found


async def _ids(hub: Hub, table: Any) -> list[Any]:
    async with hub.sessionmaker() as session:
        return list((await session.execute(select(table.c.id).order_by(table.c.id))).scalars())


def _lease_some(table: Any, ids: list[Any], **values: Any) -> Callable[[Any], Awaitable[None]]:
    until = utcnow() + timedelta(minutes=1)  # the same in both runs

    async def prepare(session: Any) -> None:
        await session.execute(update(table).where(table.c.id.in_(ids)).values(
            lease_owner=OWNER, lease_until=until, **values))
    return prepare


@pytest.mark.parametrize("first, seen", [(False, False), (True, False), (True, True)])
async def test_send_intents(hub, first, seen):
    ids = await _ids(hub, NOTIFICATIONS)
    started = utcnow() - timedelta(seconds=5)
    # Four rows leased to the worker; one of them had an intent already, one another owner.
    prepare = _lease_some(NOTIFICATIONS, ids[:4])

    async def setup(session: Any) -> None:
        await prepare(session)
        await session.execute(update(NOTIFICATIONS).where(NOTIFICATIONS.c.id.in_(ids[:4]))
                              .values(send_started_at=None))  # sent by the pipeline
        await session.execute(update(NOTIFICATIONS).where(NOTIFICATIONS.c.id == ids[0])
                              .values(send_started_at=started))
        await session.execute(update(NOTIFICATIONS).where(NOTIFICATIONS.c.id == ids[3])
                              .values(lease_owner="worker-b"))
    now = utcnow()
    params = {"ids": ids[:5], "owner": OWNER, "now": now, "intent_provider": "outbox",
              "until": now + timedelta(seconds=60), "seen": started if seen else None}
    (direct, session_rows) = await _both(hub, setup, _INTENT[(first, seen)], params,
                                         NOTIFICATIONS)
    assert direct == session_rows
    expected = {(False, False): 3, (True, False): 2, (True, True): 1}[(first, seen)]
    assert len(direct[0]) == expected


async def test_lease_checks_and_the_earlier_stage_check(hub):
    notifications = await _ids(hub, NOTIFICATIONS)
    inbox = await _ids(hub, INBOX)
    leased = _lease_some(NOTIFICATIONS, notifications[:3], status="sending")
    direct, session_rows = await _both(hub, leased, OUTBOX_STILL_LEASED,
                                       {"ids": notifications, "owner": OWNER}, NOTIFICATIONS)
    assert direct == session_rows and len(direct[0]) == 3
    async with hub.sessionmaker() as session:
        returns = list((await session.execute(select(NOTIFICATIONS.c.return_id))).scalars())
    direct, session_rows = await _both(hub, leased, _UNFINISHED_CHANNELS,
                                       {"return_ids": returns}, NOTIFICATIONS)
    assert direct == session_rows and len(direct[0]) == 3
    pending = _lease_some(INBOX, inbox[:2], status="pending")
    direct, session_rows = await _both(hub, pending, INBOX_STILL_LEASED,
                                       {"ids": inbox, "owner": OWNER}, INBOX)
    assert direct == session_rows and len(direct[0]) == 2
    assert all(lease.tzinfo is not None for _id, lease in direct[0])


async def test_finished_inbox_rows_and_match_decisions(hub):
    inbox = await _ids(hub, INBOX)
    pending = _lease_some(INBOX, inbox, status="pending")
    direct, session_rows = await _both(hub, pending, _INBOX_DONE,
                                       {"ids": inbox[:4], "now": utcnow()}, INBOX)
    assert direct == session_rows
    status = list(INBOX.c.keys()).index("status")
    statuses = [row[status] for row in direct[1]]
    assert statuses.count("done") == 4 and statuses.count("pending") == len(inbox) - 4

    at = utcnow()

    async def decided(session: Any) -> None:  # one event to a return, one to a new return
        await session.execute(insert(DECISIONS), [
            {"inbox_event_id": inbox[0], "return_id": 7, "token_name": "ops", "decided_at": at},
            {"inbox_event_id": inbox[1], "return_id": None, "token_name": "ops",
             "decided_at": at}])
    direct, session_rows = await _both(hub, decided, _DECISIONS_FOR, {"ids": inbox},
                                       DECISIONS, order=DECISIONS.c.inbox_event_id)
    assert direct == session_rows
    assert sorted(direct[0], key=repr) == sorted([(inbox[0], 7), (inbox[1], None)], key=repr)


async def test_reference_holders_read_every_kind_against_every_value(hub):
    refs = ReturnReference.__table__
    async with hub.sessionmaker() as session:
        rows = (await session.execute(select(refs.c.scope, refs.c.kind, refs.c.value,
                                             refs.c.return_id).order_by(refs.c.id))).all()
    by_kind: dict[str, list[Any]] = {}
    for row in rows:
        by_kind.setdefault(row.kind, []).append(row)
    assert len(by_kind) >= 2, "the pipeline wrote references of one kind only"
    (kind_a, rows_a), (kind_b, rows_b) = list(by_kind.items())[:2]
    scope = rows_a[0].scope
    value_a, value_b = rows_a[0].value, rows_b[1].value
    asked = [Reference(kind_a, value_a), Reference(kind_b, value_b),
             Reference(kind_a, value_b),  # held by nobody, though both are in the lists
             Reference(kind_a, "nobody-holds-this")]
    for direct in (True, False):
        async with hub.sessionmaker() as session:
            await session.begin()  # a write transaction: SQLite's direct path
            # value_a held under kind_b too, by another return: not asked for, so not found.
            await session.execute(insert(refs).values(
                scope=scope, kind=kind_b, value=value_a, slot=0, source="shop",
                return_id=rows_b[1].return_id, created_at=utcnow()))
            if not direct:
                await session.commit()
            found = await references.holders(session, scope, asked)
            if direct:
                await session.rollback()
            else:
                await session.execute(refs.delete().where(refs.c.kind == kind_b,
                                                          refs.c.value == value_a))
                await session.commit()
        assert dict(found) == {(kind_a, value_a): [rows_a[0].return_id],
                               (kind_b, value_b): [rows_b[1].return_id]}


async def test_a_batch_loads_returns_and_customers_with_a_list_left_empty(hub):
    returns, customers = Return.__table__, Customer.__table__
    async with hub.sessionmaker() as session:
        stored = (await session.execute(
            select(returns.c.id, returns.c.external_id, customers.c.id, customers.c.identity)
            .join(customers, customers.c.id == returns.c.customer_id)
            .order_by(returns.c.id))).all()
    assert len(stored) >= 3
    asked = [
        ({stored[0][0]}, set()),  # no identity: that list is written IN (NULL)
        (set(), {stored[1][3]}),  # no return, so no customer id
        ({stored[0][0]}, {stored[2][3]}),
    ]
    for return_ids, identities in asked:
        found = []
        for direct in (True, False):
            async with hub.sessionmaker() as session:
                if direct:
                    await session.begin()  # a write transaction: SQLite's direct path
                batch = ReturnsBatch(hub.codec)
                await batch.load(session, return_ids, identities)
                if direct:
                    await session.rollback()
            found.append((
                sorted((view.external_id, view.id) for view in
                       (batch.return_of(return_id) for return_id in return_ids)),
                sorted({(row.id, row.identity) for row in batch._customer_rows.values()})))
        assert found[0] == found[1]
        assert found[0][0] == sorted((row[1], row[0]) for row in stored if row[0] in return_ids)
        assert found[0][1] == sorted({(row[2], row[3]) for row in stored
                                      if row[0] in return_ids or row[3] in identities})
