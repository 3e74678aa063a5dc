"""Two returns later found to be one are merged (everything kept, nothing sent twice); an
ambiguous match is parked, never guessed, and resolved by an operator through the admin API
or the dashboard (issue 16). Two normalized sources, a shop and a warehouse (``wms``), on
SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from hub.portal_links import make_token
from hub.runtime import Hub
from hub.store.engine import utcnow
from hub.store.models import (
    AuditEntry,
    InboxEvent,
    Notification,
    Return,
    ReturnReference,
    TimelineEntry,
)
from hub.testing.factories import customer, event_payload
from hub.web.app import create_app
from hub.web.auth import csrf_token
from tests.conftest import TEST_SECRET, make_settings, signed_headers, started_hub
from tests.web.conftest import bearer, new_token

JANE = customer(1)


@pytest.fixture
async def two_systems(tmp_path: Path, db_url: str) -> AsyncIterator[tuple[Hub, TestClient]]:
    """A hub with the ``shop`` source and a warehouse that finds returns by order number and
    tracking number; workers run only when a test drains them."""
    settings = make_settings(tmp_path, db_url, sources={
        "wms": {"type": "standard_webhooks", "secret": TEST_SECRET,
                "match": ["order_number", "tracking_number"]}})
    async with started_hub(settings) as hub:
        async with TestClient(TestServer(create_app(hub))) as client:
            yield hub, client


async def send(client: TestClient, source: str, event_type: str, return_id: str, minute: int,
               **fields) -> None:
    payload = event_payload(event_type, return_id, minutes=minute, customer=JANE, **fields)
    body = json.dumps(payload).encode()
    response = await client.post(f"/webhooks/{source}", data=body, headers=signed_headers(body))
    assert response.status == 202, await response.text()


async def rows(hub: Hub, model, *where) -> list:
    async with hub.sessionmaker() as session:
        return list((await session.execute(select(model).where(*where))).scalars())


def outbox(hub: Hub) -> list[Path]:
    return list(Path(hub.sinks["outbox"].directory).glob("*.*"))


async def test_two_returns_found_to_be_one_are_merged_keeping_everything(two_systems):
    hub, client = two_systems
    await send(client, "shop", "return.approved", "R-1", 1, order_number="#100")
    await send(client, "shop", "return.label_created", "R-1", 2, order_number="#100",
               tracking={"number": "1Z-MERGE"})
    await hub.drain()
    # The warehouse knows it under its own id and another order reference: a second return.
    await send(client, "wms", "return.received", "W-1", 3, order_number="WH-200")
    await hub.drain()
    before = {r.external_id: r.id for r in await rows(hub, Return)}
    assert set(before) == {"R-1", "W-1"}
    assert len(outbox(hub)) == 4  # approved email + SMS, label email, received email

    # Its next record carries the parcel's tracking number: the two are one.
    await send(client, "wms", "return.updated", "W-1", 4, order_number="WH-200",
               tracking={"number": "1Z-MERGE"})
    await hub.drain()
    [kept] = await rows(hub, Return)
    assert (kept.id, kept.source, kept.external_id) == (before["R-1"], "shop", "R-1")
    assert kept.state == "received"
    refs = {(r.kind, r.value) for r in await rows(hub, ReturnReference)}
    assert {("id", "shop:R-1"), ("id", "wms:W-1"), ("tracking_number", "1Z-MERGE")} <= refs
    assert {r.return_id for r in await rows(hub, ReturnReference)} == {kept.id}
    timeline = await rows(hub, TimelineEntry)
    assert {t.return_id for t in timeline} == {kept.id}
    assert {t.detail.get("source") for t in timeline if t.kind == "event"} == {"shop", "wms"}
    [merge] = [t for t in timeline if t.kind == "identity"]
    assert merge.detail["merged_return_id"] == before["W-1"]
    notes = await rows(hub, Notification)
    assert {n.return_id for n in notes} == {kept.id}
    assert Counter((n.stage, n.channel) for n in notes if n.status == "sent") == Counter({
        ("approved", "email"): 1, ("approved", "sms"): 1, ("label_created", "email"): 1,
        ("received", "email"): 1})

    # Either system repeating a stage now sends nothing: one return, one key per stage.
    await send(client, "shop", "return.received", "R-1", 5, order_number="#100")
    await send(client, "wms", "return.received", "W-1", 6, order_number="WH-200")
    await hub.drain()
    assert len(await rows(hub, Return)) == 1
    assert len(outbox(hub)) == 4

    token = await new_token(hub, "viewer", "read")
    response = await client.get(f"/api/returns/{kept.id}/timeline", headers=bearer(token))
    assert response.status == 200
    body = await response.json()
    assert {e["source"] for e in body["events"]} == {"shop", "wms"}


async def test_a_stage_both_sides_planned_is_sent_once_after_the_merge(two_systems):
    hub, client = two_systems
    await send(client, "shop", "return.approved", "R-7", 1, order_number="#700",
               tracking={"number": "1Z-TWICE"})
    await send(client, "wms", "return.approved", "W-7", 2, order_number="WH-7")
    await hub.processor.drain()  # both approvals planned, nothing sent yet
    planned = await rows(hub, Notification)
    assert len(planned) == 4 and not any(n.send_started_at or n.sent_at for n in planned)
    await send(client, "wms", "return.updated", "W-7", 3, order_number="WH-7",
               tracking={"number": "1Z-TWICE"})
    await hub.drain()
    assert len(await rows(hub, Return)) == 1
    notes = await rows(hub, Notification)
    assert Counter((n.stage, n.channel) for n in notes if n.status == "sent") == Counter({
        ("approved", "email"): 1, ("approved", "sms"): 1})
    assert sorted(n.status for n in notes) == ["sent", "sent", "skipped", "skipped"]
    assert len(outbox(hub)) == 2


async def test_a_message_handed_off_before_its_return_was_merged_away_is_recorded(
        two_systems):
    hub, client = two_systems
    await send(client, "shop", "return.approved", "R-8", 1, order_number="#800",
               tracking={"number": "1Z-LATE"})
    await hub.drain()
    await send(client, "wms", "return.received", "W-8", 2, order_number="WH-8")
    await hub.processor.drain()  # a second return; its email is handed to the dispatcher...
    assert hub.dispatcher.handoff.queued == 1
    await send(client, "wms", "return.updated", "W-8", 3, order_number="WH-8",
               tracking={"number": "1Z-LATE"})
    await hub.processor.drain()  # ...which merges into the shop's return before it is sent
    [kept] = await rows(hub, Return)

    await hub.dispatcher.drain()

    # Sent once, and recorded at once: on the return it belongs to now, not the deleted one.
    [received] = await rows(hub, Notification, Notification.stage == "received")
    assert (received.return_id, received.status, received.attempts) == (kept.id, "sent", 1)
    assert received.lease_owner is None
    [outcome] = await rows(hub, TimelineEntry, TimelineEntry.notification_id == received.id,
                           TimelineEntry.outcome == "sent")
    assert outcome.return_id == kept.id
    assert len(outbox(hub)) == 3


async def park_one(hub: Hub, client: TestClient, warehouse_id: str, minute: int) -> InboxEvent:
    """Two shop returns of order #5001, then a warehouse record naming only that order."""
    await send(client, "shop", "return.requested", "R-51", 1, order_number="#5001")
    await send(client, "shop", "return.requested", "R-52", 2, order_number="#5001")
    await send(client, "wms", "return.received", warehouse_id, minute, order_number="#5001")
    await hub.drain()
    [parked] = await rows(hub, InboxEvent, InboxEvent.status == "ambiguous")
    return parked


async def test_an_ambiguous_match_is_parked_and_resolved_through_the_api(two_systems):
    hub, client = two_systems
    parked = await park_one(hub, client, "W-9", 3)
    returns = {r.external_id: r for r in await rows(hub, Return)}
    assert set(returns) == {"R-51", "R-52"}  # no guess: nothing applied, no third return
    assert {r.state for r in returns.values()} == {"requested"}
    assert not await rows(hub, Notification, Notification.stage == "received")
    assert "ambiguous" in parked.last_error and JANE["email"] not in parked.last_error

    metrics = await (await client.get("/metrics")).text()
    assert 'returnhub_inbox_backlog{status="ambiguous"} 1.0' in metrics

    reader = await new_token(hub, "viewer", "read")
    listed = await client.get("/api/matches", headers=bearer(reader))
    assert listed.status == 200
    [item] = (await listed.json())["items"]
    assert item["inbox_event_id"] == parked.id and item["source"] == "wms"
    assert [(c["external_id"], c["via"]) for c in item["candidates"]] == [
        ("R-51", ["order_number"]), ("R-52", ["order_number"])]
    assert JANE["email"] not in await listed.text()

    path = f"/api/matches/{parked.id}/resolve"
    denied = await client.post(path, json={"return_id": returns["R-52"].id},
                               headers=bearer(reader))
    assert denied.status == 403
    operator = await new_token(hub, "ops", "operate")
    for body, field in [({}, "return_id"), ({"return_id": 99999}, "return_id"),
                        ({"return_id": returns["R-52"].id, "new_return": True}, "return_id"),
                        ({"return_id": "x"}, "return_id"), ({"choice": 1}, "choice")]:
        bad = await client.post(path, json=body, headers=bearer(operator))
        assert bad.status == 422, body
        assert (await bad.json())["error"]["field"] == field
    ok = await client.post(path, json={"return_id": returns["R-52"].id},
                           headers=bearer(operator))
    assert ok.status == 200
    assert (await ok.json())["status"] == "pending"
    again = await client.post(path, json={"return_id": returns["R-52"].id},
                              headers=bearer(operator))
    assert again.status == 409

    await hub.drain()
    states = {r.external_id: r.state for r in await rows(hub, Return)}
    assert states == {"R-51": "requested", "R-52": "received"}
    assert (await rows(hub, InboxEvent, InboxEvent.id == parked.id))[0].status == "done"
    [audit] = await rows(hub, AuditEntry, AuditEntry.action == "match.resolve")
    assert (audit.token_name, audit.target) == ("ops", f"inbox_event:{parked.id}")
    assert audit.detail["return_id"] == returns["R-52"].id
    assert len(await rows(hub, Notification, Notification.stage == "received")) == 1
    # The warehouse's id is linked now: its next record finds the return by itself.
    await send(client, "wms", "return.refunded", "W-9", 4, order_number="#5001")
    await hub.drain()
    assert {r.external_id: r.state for r in await rows(hub, Return)}["R-52"] == "refunded"
    assert not await rows(hub, InboxEvent, InboxEvent.status == "ambiguous")


async def test_resolving_as_a_new_return_through_the_dashboard(two_systems):
    hub, client = two_systems
    parked = await park_one(hub, client, "W-10", 3)
    token = await new_token(hub, "ops", "operate")
    signed_in = await client.post("/admin/session", data={"token": token},
                                  allow_redirects=False)
    assert signed_in.status == 303
    page = await (await client.get("/admin/matches")).text()
    assert 'data-testid="match"' in page and f"Event {parked.id}" in page
    assert "R-51" in page and "R-52" in page and JANE["email"] not in page
    bad = await client.post(f"/admin/matches/{parked.id}/resolve",
                            data={"csrf": csrf_token(hub, token), "choice": "nonsense"},
                            allow_redirects=False)
    assert "flash=bad_choice" in bad.headers["Location"]
    done = await client.post(f"/admin/matches/{parked.id}/resolve",
                             data={"csrf": csrf_token(hub, token), "choice": "new"},
                             allow_redirects=False)
    assert done.status == 303 and "flash=resolved" in done.headers["Location"]
    await hub.drain()
    states = {(r.source, r.external_id): r.state for r in await rows(hub, Return)}
    assert states == {("shop", "R-51"): "requested", ("shop", "R-52"): "requested",
                      ("wms", "W-10"): "received"}
    assert "No parked matches" in await (await client.get("/admin/matches")).text()


async def test_a_merge_with_a_return_of_the_same_batch_waits_for_it_to_be_saved(two_systems):
    hub, client = two_systems
    await send(client, "shop", "return.label_created", "R-3", 1, order_number="#300",
               tracking={"number": "1Z-BATCH"})
    await send(client, "wms", "return.received", "W-3", 2, order_number="WH-3")
    await send(client, "wms", "return.updated", "W-3", 3, order_number="WH-3",
               tracking={"number": "1Z-BATCH"})
    await hub.drain()  # one batch creates both returns; the third event is matched after it
    [kept] = await rows(hub, Return)
    assert (kept.external_id, kept.state) == ("R-3", "received")
    assert [t.kind for t in await rows(hub, TimelineEntry, TimelineEntry.kind == "identity")] \
        == ["identity"]
    assert Counter(i.status for i in await rows(hub, InboxEvent)) == Counter({"done": 3})


async def test_privacy_and_portal_links_reach_every_system_of_a_joined_return(two_systems):
    hub, client = two_systems
    await send(client, "shop", "return.approved", "R-8", 1, order_number="#800",
               tracking={"number": "1Z-PRIV"})
    await send(client, "wms", "return.received", "W-8", 2, order_number="WH-8")
    await hub.drain()
    await send(client, "wms", "return.updated", "W-8", 3, tracking={"number": "1Z-PRIV"})
    await hub.drain()
    [kept] = await rows(hub, Return)
    wms_events = {e.id for e in await rows(hub, InboxEvent, InboxEvent.source == "wms")}
    # A link sent for the warehouse's return before the merge still opens the return.
    link = "/portal/r/" + make_token(hub.portal_key, "wms", "W-8", utcnow() + timedelta(days=1))
    page = await client.get(link)
    assert page.status == 200 and "R-8" in await page.text()

    admin = await new_token(hub, "dpo", "admin")
    export = await client.get(f"/api/customers/{kept.customer_id}/export",
                              headers=bearer(admin))
    assert export.status == 200
    assert wms_events <= {e["id"] for e in (await export.json())["inbox_events"]}
    erased = await client.post(f"/api/customers/{kept.customer_id}/erase",
                               headers=bearer(admin))
    assert erased.status == 200
    for row in await rows(hub, InboxEvent):
        assert hub.codec.decode(row.payload_enc).customer is None, (row.source, row.id)


async def test_a_scan_waiting_for_a_number_another_system_links_late_is_applied(two_systems):
    hub, client = two_systems
    await send(client, "shop", "return.label_created", "R-6", 10, order_number="#600",
               tracking={"number": "1Z-NEWER"})
    await hub.drain()
    scan = event_payload("return.in_transit", None, minutes=11, tracking={"number": "1Z-OLDER"})
    scan.pop("return_id")
    scan.pop("customer")
    body = json.dumps(scan).encode()
    assert (await client.post("/webhooks/shop", data=body,
                              headers=signed_headers(body))).status == 202
    await hub.drain()
    waiting = await rows(hub, InboxEvent, InboxEvent.tracking_number == "1Z-OLDER")
    assert [i.status for i in waiting] == ["parked"]
    # The warehouse's older record joins the return by order number and links its parcel's
    # number (too old to replace the return's own tracking number): the scan is applied.
    await send(client, "wms", "return.approved", "W-6", 1, order_number="#600",
               tracking={"number": "1Z-OLDER"})
    await hub.drain()
    [ret] = await rows(hub, Return)
    assert ret.state == "in_transit"
    assert Counter(i.status for i in await rows(hub, InboxEvent)) == Counter({"done": 3})
