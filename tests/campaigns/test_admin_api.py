"""The campaign admin API on SQLite and PostgreSQL: bad input named, preview, the launch →
pause → resume → cancel cycle with live counts, scopes and the audit log; no customer data in
any answer."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from hub.runtime import Hub
from hub.testing.campaign_seed import seed_customers
from tests.campaigns.test_planning import FILTER
from tests.web.conftest import audit_actions, bearer, new_token


async def test_a_campaign_through_the_api(client: TestClient, hub: Hub):
    await seed_customers(hub.sessionmaker, hub.codec, 20, consent_every=2)
    admin = bearer(await new_token(hub, "ops", "admin"))
    reader = bearer(await new_token(hub, "viewer", "read"))

    bad = await client.post("/api/segments", json={"name": "shoes", "filter": "stages in ("},
                            headers=admin)
    assert bad.status == 422 and (await bad.json())["error"]["field"] == "filter"
    made = await client.post("/api/segments", json={"name": "shoes", "filter": FILTER},
                             headers=admin)
    assert made.status == 201, await made.text()
    again = await client.post("/api/segments", json={"name": "shoes", "filter": "true"},
                              headers=admin)
    assert again.status == 409 and (await again.json())["error"]["field"] == "name"

    body = {"name": "comeback", "segment": "shoes", "template": "campaigns/category_discount",
            "channels": ["email"], "rate_per_second": 500}
    for field, value in (("segment", "nope"), ("channels", ["fax"]),
                         ("template", "../approved"), ("rate_per_second", 0),
                         ("start_at", "2026-12-03T10:00:00")):
        refused = await client.post("/api/campaigns", json={**body, field: value},
                                    headers=admin)
        assert refused.status == 422, (field, await refused.text())
        assert field in str((await refused.json())["error"]), field
    assert (await client.post("/api/campaigns", json=body, headers=reader)).status == 403
    created = await client.post("/api/campaigns", json=body, headers=admin)
    assert created.status == 201, await created.text()
    campaign = await created.json()
    assert campaign["status"] == "draft" and campaign["progress"]["planned"] == 0
    cid = campaign["id"]

    preview = await (await client.get(f"/api/campaigns/{cid}/preview", headers=reader)).json()
    # Customers 1..20 matching: even (shoes), not a multiple of 5 (exchange); consent: even.
    assert (preview["matched_returns"], preview["audience"]) == (8, 8)
    assert "15% off Shoes" in preview["sample"]["email"]["subject"]
    assert "@example.com" not in str(preview)

    assert (await client.post(f"/api/campaigns/{cid}/pause", headers=admin)).status == 409
    assert (await client.post(f"/api/campaigns/{cid}/explode", headers=admin)).status in (
        404, 422)
    launched = await client.post(f"/api/campaigns/{cid}/launch", headers=admin)
    assert launched.status == 200 and (await launched.json())["status"] == "running"
    await hub.campaigns.plan_all(cid)
    paused = await (await client.post(f"/api/campaigns/{cid}/pause", headers=admin)).json()
    assert paused["progress"] | {} == {"planned": 8, "queued": 0, "paused": 8, "sent": 0,
                                       "failed": 0, "skipped": 0, "excluded": 0}
    resumed = await (await client.post(f"/api/campaigns/{cid}/resume", headers=admin)).json()
    assert resumed["progress"]["queued"] == 8
    await hub.dispatcher.drain()
    await hub.campaigns.plan_once()
    done = await (await client.get(f"/api/campaigns/{cid}", headers=reader)).json()
    assert done["status"] == "done" and done["progress"]["sent"] == 8
    assert (await client.post(f"/api/campaigns/{cid}/cancel", headers=admin)).status == 409
    listed = await (await client.get("/api/campaigns", headers=reader)).json()
    assert [c["name"] for c in listed["items"]] == ["comeback"]
    assert "@example.com" not in str(listed)
    actions = [(name, action) for name, action, _ in await audit_actions(hub)]
    assert actions == [("ops", "segment.create"), ("ops", "campaign.create"),
                       ("ops", "campaign.launch"), ("ops", "campaign.pause"),
                       ("ops", "campaign.resume")]
