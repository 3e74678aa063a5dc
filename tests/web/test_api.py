"""The admin API: search, timelines, notifications, pagination, validation, limits, OpenAPI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from openapi_spec_validator import validate
from sqlalchemy import update

from hub.store.models import Return
from hub.testing.factories import event_payload
from hub.web.app import create_app
from hub.web.openapi import openapi_path
from tests.web.conftest import bearer, new_token, post_event, seed


async def test_search_by_reference_email_state_and_dates(hub, client):
    token = await new_token(hub)
    await seed(client, hub, "R-1", "return.approved")
    await seed(client, hub, "R-2", "return.approved", "return.received")
    payload = event_payload("return.requested", "R-3",
                            customer={"id": "C-x", "email": "Jane.Doe@Example.com",
                                      "name": "Jane Doe"})
    await post_event(client, payload)
    await hub.drain()

    async def refs(**params):
        response = await client.get("/api/returns", params=params, headers=bearer(token))
        assert response.status == 200, await response.text()
        return [r["reference"] for r in (await response.json())["items"]]

    assert await refs(reference="R-2") == ["R-2"]
    assert await refs(email="jane.doe@example.com") == ["R-3"]
    assert await refs(state="received") == ["R-2"]
    assert sorted(await refs(state="approved,requested")) == ["R-1", "R-3"]
    now = datetime.now(UTC)
    assert len(await refs(created_from=(now - timedelta(hours=1)).isoformat())) == 3
    assert await refs(created_to=(now - timedelta(hours=1)).isoformat()) == []
    # A date, or a time without an offset, is UTC (found from outside: both answered 500).
    tomorrow = (now + timedelta(days=1)).date().isoformat()
    assert len(await refs(created_to=tomorrow)) == 3
    assert await refs(created_from=tomorrow) == []
    naive = (now - timedelta(hours=1)).replace(tzinfo=None).isoformat()
    assert len(await refs(created_from=naive)) == 3
    response = await client.post("/api/returns/search", json={"created_from": tomorrow},
                                 headers=bearer(token))
    assert response.status == 200 and (await response.json())["items"] == []
    response = await client.post("/api/returns/search", json={"email": "JANE.DOE@example.com"},
                                 headers=bearer(token))
    assert [r["reference"] for r in (await response.json())["items"]] == ["R-3"]


async def test_pagination_walks_every_return_once(hub, client):
    token = await new_token(hub)
    for n in range(5):
        await post_event(client, event_payload("return.requested", f"P-{n}"))
    await hub.drain()
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        body = await (await client.get("/api/returns", params=params,
                                       headers=bearer(token))).json()
        pages += 1
        seen += [r["reference"] for r in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert pages == 3
    assert sorted(seen) == [f"P-{n}" for n in range(5)]
    assert seen == sorted(seen, reverse=True)  # newest first
    bad = await client.get("/api/returns", params={"cursor": "garbage"}, headers=bearer(token))
    assert bad.status == 422
    assert (await bad.json())["error"]["field"] == "cursor"


async def test_unknown_params_and_fields_are_422_naming_them(hub, client):
    token = await new_token(hub)
    cases = [
        await client.get("/api/returns", params={"colour": "blue"}, headers=bearer(token)),
        await client.get("/api/returns", params={"limit": "1000"}, headers=bearer(token)),
        await client.get("/api/returns", params={"state": "teleported"}, headers=bearer(token)),
        await client.post("/api/returns/search", json={"reference": "x", "admin": True},
                          headers=bearer(token)),
        await client.post("/api/customers/search", json={"email": "a@b.c", "phone": "+1"},
                          headers=bearer(token)),
        await client.patch("/api/customers/1/preferences", json={"channels": {}, "extra": 1},
                           headers=bearer(token)),
        await client.get("/api/returns/abc", headers=bearer(token)),
        await client.get("/api/connectors", params={"x": "1"}, headers=bearer(token)),
        await client.post("/api/dead-letters/inbox/1/replay", json={"force": True},
                          headers=bearer(token)),
    ]
    fields = []
    for response in cases:
        assert response.status == 422, await response.text()
        error = (await response.json())["error"]
        assert set(error) <= {"code", "message", "field"}
        fields.append(error.get("field"))
    assert fields[:4] == ["colour", "limit", "state.0", "admin"]
    assert fields[5:] == ["extra", "id", "x", "force"]
    not_json = await client.post("/api/returns/search", data=b"{nope",
                                 headers=bearer(token))
    assert not_json.status == 400


async def test_timeline_has_events_notifications_attempts(hub, client):
    token = await new_token(hub)
    return_id = await seed(client, hub, "T-1", "return.approved", "return.received")
    response = await client.get(f"/api/returns/{return_id}/timeline", headers=bearer(token))
    assert response.status == 200
    body = await response.json()
    assert body["return"]["reference"] == "T-1" and body["return"]["state"] == "received"
    assert [e["event_type"] for e in body["events"]] == ["return.approved", "return.received"]
    kinds = {(t["kind"], t["outcome"]) for t in body["timeline"]}
    assert ("event", "moved") in kinds and ("notification", "sent") in kinds
    assert {n["stage"] for n in body["notifications"]} == {"approved", "received"}
    first = body["notifications"][0]
    assert first["delivery_attempts"][0]["outcome"] == "accepted"
    assert "***" in first["recipient"] and "@example.com" not in first["recipient"][:5]
    detail = await client.get(f"/api/notifications/{first['id']}", headers=bearer(token))
    assert (await detail.json())["delivery_attempts"][0]["provider"] == "outbox"
    listed = await client.get("/api/notifications", params={"return_id": str(return_id),
                                                            "channel": "sms"},
                              headers=bearer(token))
    assert [n["stage"] for n in (await listed.json())["items"]] == ["approved"]
    sent = await client.get("/api/notifications", params={"return_id": str(return_id),
                                                          "status": "sent,delivered"},
                            headers=bearer(token))
    statuses = {n["status"] for n in (await sent.json())["items"]}
    assert statuses and statuses <= {"sent", "delivered"}
    # A status no notification can have is a 422 naming the field (found from outside: it
    # answered an empty page, as if nothing had that status).
    bogus = await client.get("/api/notifications", params={"status": "sent,bogus"},
                             headers=bearer(token))
    assert bogus.status == 422 and (await bogus.json())["error"]["field"].startswith("status")
    missing = await client.get("/api/returns/999999", headers=bearer(token))
    assert missing.status == 404
    assert (await missing.json())["error"]["code"] == "not_found"


async def test_objects_outside_region_or_category_limits_are_404(hub, client):
    de = await seed(client, hub, "EU-1", "return.approved", country="DE", category="shoes")
    us = await seed(client, hub, "US-1", "return.approved", country="US", category="shoes")
    unknown = await seed(client, hub, "NA-1", "return.approved")
    eu_token = await new_token(hub, "eu-team", "admin", regions=("EU",))
    bags = await new_token(hub, "bags-team", "admin", categories=("bags",))
    for token, visible in ((eu_token, {de}), (bags, set())):
        listed = await client.get("/api/returns", headers=bearer(token))
        assert {r["id"] for r in (await listed.json())["items"]} == visible
        for return_id in {de, us, unknown} - visible:
            for path in (f"/api/returns/{return_id}", f"/api/returns/{return_id}/timeline"):
                assert (await client.get(path, headers=bearer(token))).status == 404
    detail = await client.get(f"/api/returns/{de}", headers=bearer(eu_token))
    assert (await detail.json())["region"] == "DE"
    assert (await detail.json())["categories"] == ["shoes"]
    full = await new_token(hub, "all", "read")
    notes = (await (await client.get("/api/notifications", params={"return_id": str(us)},
                                     headers=bearer(full))).json())["items"]
    assert notes
    hidden = await client.get(f"/api/notifications/{notes[0]['id']}", headers=bearer(eu_token))
    assert hidden.status == 404
    listed = await client.get("/api/notifications", headers=bearer(eu_token))
    assert {n["return_id"] for n in (await listed.json())["items"]} == {de}


async def test_openapi_covers_every_api_route_and_is_valid(hub, client):
    token = await new_token(hub, "doc", "read")
    response = await client.get("/api/openapi.json", headers=bearer(token))
    assert response.status == 200
    document = await response.json()
    validate(document)
    assert document["openapi"].startswith("3.1")
    app = create_app(hub)
    routes = {(r.method.lower(), openapi_path(r.resource.canonical)) for r in app.router.routes()
              if r.resource is not None and r.resource.canonical.startswith("/api")
              and r.method != "HEAD"}
    documented = {(method, path) for path, item in document["paths"].items()
                  for method in item}
    assert routes and routes <= documented, routes - documented
    assert documented <= routes, documented - routes
    search = document["paths"]["/api/returns"]["get"]
    assert {p["name"] for p in search["parameters"]} >= {"reference", "email", "state",
                                                         "created_from", "limit", "cursor"}


async def test_returns_with_state_changed_in_db_are_filtered(hub, client):
    token = await new_token(hub)
    return_id = await seed(client, hub, "S-1", "return.approved")
    async with hub.sessionmaker() as session, session.begin():
        await session.execute(update(Return).where(Return.id == return_id).values(state="closed"))
    response = await client.get("/api/returns", params={"state": "closed"}, headers=bearer(token))
    assert [r["id"] for r in (await response.json())["items"]] == [return_id]
