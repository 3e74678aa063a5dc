"""Poison in the ingress group commit: 360 signed webhooks sent at once through the real HTTP
server (so that they share group commits), 10 % of them carrying what the store cannot hold
(NUL bytes, over-long ids and references, a 5,000-character webhook-id, a malformed contact,
an amount past its precision). Every valid one gets its 202 and is stored and then applied
(a 202 is a promise), every poison one gets a 422 naming its field, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select

from hub.runtime import Hub
from hub.store.models import Customer, InboxEvent, Return
from hub.testing.factories import customer, event_payload
from hub.web.app import create_app
from tests.conftest import make_settings, signed_headers

TOTAL = 360
POISON_EVERY = 10  # 10 %


def _valid(i: int) -> tuple[dict[str, Any], str]:
    """A valid event, often at the edge of what the store holds: (body, webhook-id)."""
    body = event_payload("return.approved", f"PM-{i}", customer=customer(i))
    msg_id = f"pm-{i}"
    edge = i % 9
    if edge == 0:
        body["reason"] = "Arrived torn.\n\tSecond line. " + "long text " * 500  # 5,000+ chars
    elif edge == 1:
        body["order_number"] = f"#{i}-".ljust(100, "9")
    elif edge == 2:
        body["return_id"] = f"PM-{i}-".ljust(255, "x")
    elif edge == 3:
        body["customer"] = customer(i, id=f"C-{i}-".ljust(250, "c"), name="Zoë Ñandú 🙂")
    elif edge == 4:
        body["refund_method"] = "Store credit to the original card, " * 9
    elif edge == 5:
        body["tracking"] = {"number": f"1Z{i}".ljust(100, "0"), "carrier": "c" * 64}
    elif edge == 6:
        msg_id = f"pm-{i}-".ljust(255, "m")
    elif edge == 7:
        body["refund_amount"] = {"amount": "9999999999.9999", "currency": "USD"}
    return body, msg_id


def _poison(i: int) -> tuple[dict[str, Any], str, str]:
    """An event the store cannot hold: (body, webhook-id, the field the 422 must name)."""
    body, msg_id = event_payload("return.approved", f"PX-{i}", customer=customer(i)), f"px-{i}"
    kind = (i // POISON_EVERY) % 12
    field = {0: "return_id", 1: "customer.name", 2: "extra.note.text", 3: "return_id",
             4: "source_event_id", 5: "order_number", 6: "customer.id", 7: "tracking.number",
             8: "customer.email", 9: "customer.phone", 10: "refund_amount.amount",
             11: "occurred_at"}[kind]
    if kind == 0:
        body["return_id"] = f"PX-{i}\x00"
    elif kind == 1:
        body["customer"]["name"] = "Nul\x00Name"
    elif kind == 2:
        body["extra"] = {"note": {"text": "nested\x00"}}
    elif kind == 3:
        body["return_id"] = f"PX-{i}-".ljust(256, "x")
    elif kind == 4:
        msg_id = f"px-{i}-".ljust(5000, "m")
    elif kind == 5:
        body["order_number"] = "#".ljust(101, "1")
    elif kind == 6:
        body["customer"]["id"] = "C".ljust(251, "c")
    elif kind == 7:
        body["tracking"] = {"number": "1Z".ljust(101, "0")}
    elif kind == 8:
        body["customer"]["email"] = f"px{i}@example.com\r\nBcc: all@example.com"
    elif kind == 9:
        body["customer"]["phone"] = "+1 415 CALL NOW"
    elif kind == 10:
        body["refund_amount"] = {"amount": "123456789012.5", "currency": "USD"}
    else:
        body["occurred_at"] = "0001-01-01T00:00:00+05:00"
    return body, msg_id, field


async def _post(session: aiohttp.ClientSession, url: str, body: dict, msg_id: str
                ) -> tuple[int, dict]:
    data = json.dumps(body).encode()
    async with session.post(url, data=data, headers=signed_headers(data, msg_id)) as response:
        return response.status, await response.json()


async def test_poison_in_a_group_commit_costs_no_valid_webhook_its_ack(tmp_path, db_url):
    hub = Hub.build(make_settings(tmp_path, db_url, notifications={"stages": {}}))
    await hub.start(workers=False)
    hub.build_workers()
    valid, poison = {}, {}
    for i in range(TOTAL):
        if i % POISON_EVERY == POISON_EVERY - 1:
            poison[i] = _poison(i)
        else:
            valid[i] = _valid(i)
    try:
        async with TestServer(create_app(hub)) as server, aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0)) as session:
            url = str(server.make_url("/webhooks/shop"))
            calls = {i: _post(session, url, b, m) for i, (b, m) in valid.items()}
            calls |= {i: _post(session, url, b, m) for i, (b, m, _) in poison.items()}
            answers = dict(zip(calls, await asyncio.gather(*calls.values()), strict=True))

        statuses = Counter(answers[i][0] for i in valid)
        refused = Counter((answers[i][0], answers[i][1]["error"].get("field") == field)
                          for i, (_, _, field) in poison.items())
        print(f"\npoison mix ({db_url.split(':')[0]}): {len(valid)} valid -> {dict(statuses)}; "
              f"{len(poison)} poison -> {dict(refused)} (status, field named); "
              f"{hub.inbox.committer.commits} group commits, "
              f"{hub.inbox.committer.isolated_groups} isolated")
        assert statuses == {202: len(valid)}
        wrong = {i: answers[i] for i, (_, _, field) in poison.items()
                 if answers[i][0] != 422 or answers[i][1]["error"].get("field") != field}
        assert wrong == {}
        # They shared transactions: far fewer commits than acknowledged webhooks.
        assert hub.inbox.committer.commits < len(valid)

        async with hub.sessionmaker() as db:
            stored = set((await db.execute(select(InboxEvent.return_ref))).scalars())
        assert stored == {body["return_id"] for body, _ in valid.values()}

        # A 202 is a promise: every accepted event is applied, none dead-lettered.
        await hub.processor.drain()
        async with hub.sessionmaker() as db:
            statuses = dict((await db.execute(select(InboxEvent.status, func.count())
                                              .group_by(InboxEvent.status))).all())
            returns = {r.external_id: r for r in (await db.execute(select(Return))).scalars()}
            customers = (await db.execute(select(func.count()).select_from(Customer))).scalar()
        assert statuses == {"done": len(valid)}
        assert set(returns) == stored and customers == len(valid)
        long_reason = valid[0][0]["reason"]
        assert returns["PM-0"].reason == long_reason  # held whole (Text), not cut
        assert returns[valid[4][0]["return_id"]].refund_method == valid[4][0]["refund_method"]
    finally:
        await hub.stop()
