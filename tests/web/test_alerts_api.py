"""``GET /api/alerts``: alerts from the evaluator, filtered and paged; bad filters named."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import update

from hub.store.engine import utcnow
from hub.store.models import InboxEvent
from hub.web.app import create_app
from tests.alerts.test_evaluator import events, started
from tests.web.conftest import bearer, new_token


async def test_alerts_are_listed_filtered_and_paged(tmp_path, db_url):
    hub = await started(tmp_path, db_url, {"rules": [
        {"name": "dead", "kind": "dead_letters", "threshold": 0}]})
    try:
        await hub.inbox.submit(events(1, "R-api"), utcnow())
        for status in ("failed", "done", "failed"):  # open, resolve, open again
            async with hub.sessionmaker() as session, session.begin():
                await session.execute(update(InboxEvent).values(status=status))
            await hub.alerts.run_once()
        token = await new_token(hub, "reader", "read")
        async with TestClient(TestServer(create_app(hub))) as client:
            everything = await (await client.get("/api/alerts", headers=bearer(token))).json()
            assert [(a["status"], a["subject"], a["notice"]) for a in everything["items"]] == [
                ("open", "inbox", None), ("resolved", "inbox", None)]
            first = await (await client.get("/api/alerts", params={"limit": "1"},
                                            headers=bearer(token))).json()
            second = await (await client.get("/api/alerts", params={
                "limit": "1", "cursor": first["next_cursor"]}, headers=bearer(token))).json()
            assert [first["items"][0]["id"], second["items"][0]["id"]] == [
                a["id"] for a in everything["items"]]
            assert second["next_cursor"] is None
            resolved = await (await client.get("/api/alerts", params={"status": "resolved"},
                                               headers=bearer(token))).json()
            assert [a["status"] for a in resolved["items"]] == ["resolved"]
            bad = await client.get("/api/alerts", params={"status": "burning"},
                                   headers=bearer(token))
            assert bad.status == 422 and (await bad.json())["error"]["field"] == "status"
            assert (await client.get("/api/alerts")).status == 401
    finally:
        await hub.stop()
