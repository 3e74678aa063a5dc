"""What the database refuses although ingress let it through (here: a constraint the test adds,
a CHECK on PostgreSQL and a trigger on SQLite, both real refusals of the database): the group
commit retries its members one by one, so only the refused item fails, and it is answered 422
(the platform must stop retrying it) while an outage stays a 503. Errors stored or logged from
such failures carry the driver's message, never the statement's parameters."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import create_async_engine

from hub.events import ReturnEvent
from hub.store.engine import make_engine, make_sessionmaker, utcnow
from hub.store.failures import is_refusal, may_pass, safe_error
from hub.store.group_commit import GroupCommitter
from hub.store.inbox import _write_rows
from hub.store.models import InboxEvent
from hub.testing.factories import event_payload
from tests.conftest import signed_headers

REFUSED = "REFUSED-"


async def refuse_in_db(hub, table: str, column: str) -> None:
    """Make the database itself refuse rows of ``table`` whose ``column`` starts with
    ``REFUSED-`` (nothing in the hub checks for that)."""
    async with hub.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text(
                f"ALTER TABLE {table} ADD CONSTRAINT ck_test_refuses CHECK "
                f"({column} NOT LIKE '{REFUSED}%')"))
        else:
            await conn.execute(text(
                f"CREATE TRIGGER test_refuses BEFORE INSERT ON {table} "
                f"WHEN NEW.{column} LIKE '{REFUSED}%' "
                "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"))


def event(return_id: str) -> ReturnEvent:
    return ReturnEvent.model_validate({**event_payload("return.approved", return_id),
                                       "source": "shop", "source_event_id": uuid.uuid4().hex})


async def inbox_refs(hub) -> set[str]:
    async with hub.sessionmaker() as session:
        return set((await session.execute(select(InboxEvent.return_ref))).scalars())


async def test_a_refused_item_fails_alone_and_the_rest_of_its_group_commits(hub):
    await refuse_in_db(hub, "inbox_events", "return_ref")
    refs = [f"GI-{n}" for n in range(12)]
    refs[5] = f"{REFUSED}5"
    committer = hub.inbox.committer
    before = committer.isolated_groups
    # Submitted together, before the commit loop runs: one group.
    results = await asyncio.gather(*(hub.inbox.submit([event(ref)], utcnow()) for ref in refs),
                                   return_exceptions=True)
    refused = results.pop(5)
    assert results == [[True]] * 11
    assert getattr(refused, "code", None) == "unstorable_event" and refused.status == 422
    assert committer.isolated_groups == before + 1
    assert await inbox_refs(hub) == set(refs) - {f"{REFUSED}5"}


async def test_through_ingress_the_refused_webhook_gets_a_422_and_the_others_their_202(
        hub, client):
    await refuse_in_db(hub, "inbox_events", "return_ref")

    async def post(ref: str):
        body = json.dumps(event_payload("return.approved", ref)).encode()
        response = await client.post("/webhooks/shop", data=body, headers=signed_headers(body))
        return response.status, await response.json()

    refs = [f"HI-{n}" for n in range(30)] + [f"{REFUSED}{n}" for n in range(3)]
    answers = dict(zip(refs, await asyncio.gather(*(post(r) for r in refs)), strict=True))
    assert {answers[r][0] for r in refs if not r.startswith(REFUSED)} == {202}
    for ref in refs[30:]:
        status, body = answers[ref]
        assert status == 422 and body["error"]["code"] == "unstorable_event"
        assert "INSERT" not in body["error"]["message"]
    assert await inbox_refs(hub) == set(refs[:30])


async def test_a_webhook_nested_deeper_than_the_store_writes_gets_a_422_not_a_503(hub, client):
    # Found from outside: 256 levels of a platform's own JSON passed the parser (1,024) and
    # failed the inbox row's serializer, answered 503 on every retry as if the store were down.
    deep: object = "leaf"
    for _ in range(505):  # 1,010 levels: the parser's limit is 1,024, Python's recursion 1,000
        deep = {"k": [deep]}
    body = json.dumps({**event_payload("return.approved", "DEEP-1"), "extra": deep}).encode()
    response = await client.post("/webhooks/shop", data=body, headers=signed_headers(body))
    answer = await response.json()
    assert response.status == 422, answer
    assert answer["error"]["field"] == "extra" and "nested more than" in answer["error"]["message"]
    assert await inbox_refs(hub) == set()


@pytest.mark.parametrize("backend", [
    "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_an_outage_fails_the_whole_group_at_once_and_is_no_refusal(backend, tmp_path):
    # A database SQLite cannot open (a folder), or a PostgreSQL server nobody listens for.
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}" if backend == "sqlite"
                         else "postgresql+asyncpg://postgres@127.0.0.1:1/none")
    committer = GroupCommitter(make_sessionmaker(engine), _write_rows, name="test")
    await committer.start()
    try:
        rows = [[{"source": "shop", "source_event_id": str(n)}] for n in range(3)]
        results = await asyncio.gather(*(committer.submit(r) for r in rows),
                                       return_exceptions=True)
    finally:
        await committer.stop()
        await engine.dispose()
    assert all(isinstance(r, Exception) and not is_refusal(r) for r in results)
    assert all(may_pass(r) for r in results)  # the dispatcher tries its outcomes again
    assert committer.isolated_groups == 0 and committer.commits == 0


async def test_a_stored_error_keeps_the_drivers_message_and_no_parameters(hub):
    await refuse_in_db(hub, "returns", "order_number")
    payload = event_payload("return.approved", "SE-1", order_number=f"{REFUSED}order")
    await hub.inbox.submit([ReturnEvent.model_validate(
        {**payload, "source": "shop", "source_event_id": "se-1"})], utcnow())
    await hub.processor.drain()
    async with hub.sessionmaker() as session:
        row = (await session.execute(select(InboxEvent))).scalar_one()
    assert row.attempts >= 1 and row.last_error  # retried with a short backoff meanwhile
    assert row.last_error.startswith(("IntegrityError", "DBAPIError"))
    assert "refused by the test" in row.last_error or "violates check constraint" in row.last_error
    for leak in ("[parameters", "[SQL", "INSERT", REFUSED, "SE-1", "customer"):
        assert leak not in row.last_error


@pytest.mark.postgres
async def test_a_value_quoted_by_the_driver_is_not_repeated(tmp_path):
    from tests.conftest import create_pg_database, drop_pg_database

    name = await create_pg_database()
    engine = create_async_engine(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}")
    try:
        async with engine.connect() as conn:
            with pytest.raises(Exception) as caught:  # noqa: PT011 - the driver's own class
                await conn.execute(text("SELECT length(:value)"),
                                   {"value": "canary-secret\ud800"})
    finally:
        await engine.dispose()
        await drop_pg_database(name)
    assert "canary-secret" in str(caught.value)  # what the old error text stored
    assert is_refusal(caught.value) and not may_pass(caught.value)
    described = safe_error(caught.value)
    assert "canary-secret" not in described and "[parameters" not in described
    assert described.startswith("DBAPIError (DataError): invalid input for query argument")


def test_quoted_schema_names_stay_and_other_quoted_text_goes():
    message = safe_error(ValueError('constraint "uq_inbox_source_event" on "ann@example.com"'))
    assert message == 'ValueError: constraint "uq_inbox_source_event" on …'

