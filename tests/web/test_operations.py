"""Writes through the admin API: replays, test sends, preferences, GDPR; all audit-logged."""

from __future__ import annotations

import sys
import types
from pathlib import Path

from sqlalchemy import select, update

from hub.store.models import InboxEvent, Notification, Return
from hub.testing.factories import event_payload
from hub.web.admin.previews import preview_module
from tests.web.conftest import audit_actions, bearer, new_token, post_event


async def _kill(hub, **where) -> str:
    """Make one notification a dead letter; returns its id."""
    async with hub.sessionmaker() as session, session.begin():
        row = (await session.execute(select(Notification).filter_by(**where).limit(1))
               ).scalar_one()
        await session.execute(update(Notification).where(Notification.id == row.id).values(
            status="dead", attempts=8, last_error="provider down", tried_providers=["outbox"]))
    return row.id


def _outbox(hub) -> list[Path]:
    return sorted(Path(hub.sinks["outbox"].directory).glob("*.*"))


async def test_dead_notification_replay_delivers_and_is_audited(hub, client):
    token = await new_token(hub, "operator", "operate")
    await post_event(client, event_payload("return.approved", "D-1"))
    await hub.processor.drain()  # plan, but do not send yet
    dead = await _kill(hub, channel="email")
    listed = await client.get("/api/dead-letters/notifications", headers=bearer(token))
    assert [n["id"] for n in (await listed.json())["items"]] == [dead]
    response = await client.post(f"/api/dead-letters/notifications/{dead}/replay",
                                 headers=bearer(token))
    assert response.status == 200, await response.text()
    assert (await response.json()) == {"kind": "notification", "id": dead, "status": "pending"}
    async with hub.sessionmaker() as session:
        row = await session.get(Notification, dead)
        assert (row.status, row.attempts, row.tried_providers) == ("pending", 0, [])
    await hub.drain()
    async with hub.sessionmaker() as session:
        assert (await session.get(Notification, dead)).status == "sent"
    assert any(f.suffix == ".eml" for f in _outbox(hub))
    again = await client.post(f"/api/dead-letters/notifications/{dead}/replay",
                              headers=bearer(token))
    assert again.status == 409
    assert await audit_actions(hub) == [("operator", "notification.replay",
                                         f"notification:{dead}")]


async def test_failed_inbox_event_replay_applies_it(hub, client):
    token = await new_token(hub, "operator", "operate")
    await post_event(client, event_payload("return.approved", "D-2"))
    async with hub.sessionmaker() as session, session.begin():
        await session.execute(update(InboxEvent).values(status="failed", attempts=10,
                                                        last_error="enrich failed"))
    listed = await client.get("/api/dead-letters/inbox", headers=bearer(token))
    items = (await listed.json())["items"]
    assert [(i["status"], i["return_ref"]) for i in items] == [("failed", "D-2")]
    response = await client.post(f"/api/dead-letters/inbox/{items[0]['id']}/replay",
                                 headers=bearer(token))
    assert response.status == 200
    await hub.drain()
    async with hub.sessionmaker() as session:
        assert (await session.execute(select(InboxEvent.status))).scalar_one() == "done"
        assert (await session.execute(select(Return.state))).scalar_one() == "approved"
    assert (await audit_actions(hub))[-1][1] == "inbox.replay"


async def test_replay_outside_the_token_limits_is_404(hub, client):
    await post_event(client, {**event_payload("return.approved", "D-3"),
                              "extra": {"shipping_country": "US"}})
    await hub.processor.drain()
    dead = await _kill(hub, channel="email")
    eu = await new_token(hub, "eu", "operate", regions=("EU",))
    response = await client.post(f"/api/dead-letters/notifications/{dead}/replay",
                                 headers=bearer(eu))
    assert response.status == 404
    listed = await client.get("/api/dead-letters/notifications", headers=bearer(eu))
    assert (await listed.json())["items"] == []
    assert await audit_actions(hub) == []


async def test_connectors_show_breakers_and_test_send_goes_through_one_sink(hub, client):
    token = await new_token(hub, "operator", "operate")
    listed = await client.get("/api/connectors", headers=bearer(token))
    items = {c["name"]: c for c in (await listed.json())["items"]}
    assert items["shop"]["kind"] == "source" and items["shop"]["webhooks"] is True
    assert items["outbox"]["breaker"]["state"] == "closed"
    response = await client.post("/api/connectors/outbox/test-send",
                                 json={"to": "ops@example.com", "channel": "email"},
                                 headers=bearer(token))
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["status"] in ("accepted", "delivered")
    files = _outbox(hub)
    assert len(files) == 1 and body["message_id"] in files[0].name
    assert "TEST-0001" in files[0].read_text()
    actions = await audit_actions(hub)
    assert actions == [("operator", "connector.test_send", "sink:outbox")]
    bad = await client.post("/api/connectors/outbox/test-send",
                            json={"to": "x@example.com", "channel": "fax"},
                            headers=bearer(token))
    assert bad.status == 422 and (await bad.json())["error"]["field"] == "channel"
    # An address ingress would refuse is refused here too (found from outside: "not an
    # email" was written into a To: header, "hello" sent as an SMS number).
    for to, channel in (("not an email", "email"), ("hello", "sms")):
        refused = await client.post("/api/connectors/outbox/test-send",
                                    json={"to": to, "channel": channel}, headers=bearer(token))
        assert refused.status == 422 and (await refused.json())["error"]["field"] == "to"
    assert len(_outbox(hub)) == 1
    missing = await client.post("/api/connectors/nope/test-send", json={"to": "x@example.com"},
                                headers=bearer(token))
    assert missing.status == 404
    statuses = []
    for _ in range(6):
        statuses.append((await client.post("/api/connectors/outbox/test-send",
                                           json={"to": "+14155550100", "channel": "sms"},
                                           headers=bearer(token))).status)
    assert statuses[-1] == 429


async def test_rules_dry_run_calls_the_engine_or_answers_501(hub, client, monkeypatch):
    token = await new_token(hub, "reader", "read")
    event = event_payload("return.requested", "RD-1")
    if getattr(hub, "rules", None) is not None:  # the real engine, when this hub has one
        response = await client.post("/api/rules/dry-run", json=event, headers=bearer(token))
        assert response.status == 200, await response.text()
        assert "event_outcome" in await response.json()

    class Engine:
        async def dry_run(self, event):
            return {"matched": ["auto-approve"], "return_id": event.return_id}

    monkeypatch.setattr(hub, "rules", Engine(), raising=False)
    response = await client.post("/api/rules/dry-run", json=event, headers=bearer(token))
    assert response.status == 200
    assert await response.json() == {"matched": ["auto-approve"], "return_id": "RD-1"}
    bad = await client.post("/api/rules/dry-run", json={**event, "colour": 1},
                            headers=bearer(token))
    assert bad.status == 422 and (await bad.json())["error"]["field"] == "colour"
    eu = await new_token(hub, "eu", "read", regions=("EU",))
    outside = await client.post("/api/rules/dry-run", headers=bearer(eu),
                                json={**event, "extra": {"shipping_country": "US"}})
    assert outside.status == 403
    monkeypatch.setattr(hub, "rules", None)
    response = await client.post("/api/rules/dry-run", json=event, headers=bearer(token))
    assert response.status == 501
    assert (await response.json())["error"]["code"] == "not_implemented"


async def test_template_preview_calls_the_preview_module_or_answers_501(hub, client, monkeypatch):
    token = await new_token(hub, "reader", "read")
    params = {"stage": "approved", "channel": "sms"}
    response = await client.get("/api/templates/preview", params=params, headers=bearer(token))
    assert response.status == (501 if preview_module() is None else 200)
    module = types.ModuleType("hub.content.preview")
    module.preview = lambda settings, renderer, stage, channel, locale: {
        "stage": stage, "channel": channel, "locale": locale, "text": "hello"}
    monkeypatch.setitem(sys.modules, "hub.content", types.ModuleType("hub.content"))
    monkeypatch.setitem(sys.modules, "hub.content.preview", module)
    response = await client.get("/api/templates/preview", params=params, headers=bearer(token))
    assert response.status == 200
    assert (await response.json())["text"] == "hello"


async def test_preferences_lookup_and_change_is_audited_and_respected(hub, client):
    token = await new_token(hub, "operator", "operate")
    payload = event_payload("return.requested", "PR-1")
    email = payload["customer"]["email"]
    await post_event(client, payload)
    await hub.drain()
    found = await client.post("/api/customers/search", json={"email": email.upper()},
                              headers=bearer(token))
    customers = (await found.json())["items"]
    assert len(customers) == 1 and customers[0]["email"].endswith("***@example.com")
    assert email not in await found.text()
    customer_id = customers[0]["id"]
    changed = await client.patch(f"/api/customers/{customer_id}/preferences",
                                 json={"channels": {"sms": False}}, headers=bearer(token))
    assert changed.status == 200
    assert (await changed.json())["preferences"] == {"sms": False}
    unknown = await client.patch(f"/api/customers/{customer_id}/preferences",
                                 json={"channels": {"pigeon": True}}, headers=bearer(token))
    assert unknown.status == 422 and (await unknown.json())["error"]["field"] == "channels.pigeon"
    await post_event(client, event_payload("return.approved", "PR-1", minutes=500,
                                           customer=payload["customer"]))
    await hub.drain()
    async with hub.sessionmaker() as session:
        channels = set((await session.execute(select(Notification.channel).where(
            Notification.stage == "approved"))).scalars())
    assert channels == {"email"}  # SMS skipped: opted out
    assert await audit_actions(hub) == [("operator", "customer.preferences",
                                         f"customer:{customer_id}")]


async def test_gdpr_export_has_everything_and_erase_removes_it(hub, client):
    admin = await new_token(hub, "dpo", "admin")
    payload = event_payload("return.approved", "G-1")
    payload["customer"]["attributes"] = {"slack_id": "U0GDPR001"}
    await post_event(client, payload)
    await hub.drain()
    customer = payload["customer"]
    found = await client.post("/api/customers/search", json={"email": customer["email"]},
                              headers=bearer(admin))
    customer_id = (await found.json())["items"][0]["id"]
    export = await client.get(f"/api/customers/{customer_id}/export", headers=bearer(admin))
    assert export.status == 200
    data = await export.json()
    assert data["customer"]["email"] == customer["email"]
    assert data["customer"]["name"] == customer["name"]
    assert data["customer"]["phone"] == customer["phone"]
    assert data["customer"]["attributes"] == {"slack_id": "U0GDPR001"}
    ret = data["returns"][0]
    assert ret["external_id"] == "G-1" and ret["details"]["items"][0]["sku"] == "TEE-BLU-M"
    recipients = {n["recipient"] for n in ret["notifications"]}
    assert recipients == {customer["email"], customer["phone"]}
    assert ret["notifications"][0]["delivery_attempts"]
    assert ret["timeline"]
    assert data["inbox_events"][0]["payload"]["customer"]["email"] == customer["email"]

    erased = await client.post(f"/api/customers/{customer_id}/erase", headers=bearer(admin))
    assert erased.status == 200
    assert (await erased.json()) == {"customer_id": customer_id, "returns_touched": 1}
    after = await (await client.get(f"/api/customers/{customer_id}/export",
                                    headers=bearer(admin))).json()
    text = str(after)
    for secret in (customer["email"], customer["phone"], customer["name"], "U0GDPR001"):
        assert secret not in text
    assert after["returns"][0]["details"] is None
    again = await client.post("/api/customers/search", json={"email": customer["email"]},
                              headers=bearer(admin))
    assert (await again.json())["items"] == []
    assert [a[1] for a in await audit_actions(hub)] == ["customer.export", "customer.erase",
                                                        "customer.export"]


async def test_audit_log_lists_writes_for_admins(hub, client):
    operator = await new_token(hub, "operator", "operate")
    admin = await new_token(hub, "boss", "admin")
    await post_event(client, event_payload("return.approved", "A-1"))
    await hub.processor.drain()
    dead = await _kill(hub, channel="sms")
    await client.post(f"/api/dead-letters/notifications/{dead}/replay", headers=bearer(operator))
    response = await client.get("/api/audit", headers=bearer(admin))
    entries = (await response.json())["items"]
    assert [(e["token_name"], e["action"]) for e in entries] == [("operator",
                                                                  "notification.replay")]
    assert entries[0]["detail"]["previous_status"] == "dead"
