"""The dashboard's alerts view in a real browser, its rows cross-checked with the database:
alerts raised and resolved by the evaluator itself (no row written by hand)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, update

from hub.runtime import Hub
from hub.store.engine import utcnow
from hub.store.models import InboxEvent, ProviderHealth
from hub.store.models_alerts import Alert
from hub.web.app import create_app
from hub.web.dashboard.pages import when
from tests.alerts.test_evaluator import events
from tests.conftest import make_settings
from tests.web.conftest import new_token

RULES = [{"name": "dead-letters", "kind": "dead_letters", "threshold": 0},
         {"name": "provider-down", "kind": "breaker_open", "minutes": 0,
          "severity": "warning"}]


@pytest.fixture
async def alerting(tmp_path, db_url) -> AsyncIterator[tuple[Hub, str]]:
    hub = Hub.build(make_settings(tmp_path, db_url, alerts={"rules": RULES}))
    await hub.start(workers=False)
    hub.build_workers()
    try:
        async with TestClient(TestServer(create_app(hub), host="127.0.0.1")) as client:
            yield hub, str(client.make_url("")).rstrip("/")
    finally:
        await hub.stop()


async def rows_of(page: Any, table: str) -> list[list[str]]:
    return await page.eval_on_selector_all(
        f"[data-testid={table}] tbody tr[data-id]",
        "rows => rows.map(r => [r.dataset.id, ...[...r.cells].map(c => c.textContent.trim())])")


async def test_alerts_view_lists_open_then_resolved_alerts(phone, alerting):
    hub, base = alerting
    await hub.inbox.submit(events(2, "BA"), utcnow())
    async with hub.sessionmaker() as session, session.begin():
        await session.execute(update(InboxEvent).values(status="failed"))
        session.add(ProviderHealth(provider="outbox", state="open", consecutive_failures=5,
                                   opened_at=utcnow(), updated_at=utcnow()))
    await hub.alerts.run_once()
    token = await new_token(hub, "browser-ops", "read")

    await phone.goto(f"{base}/admin/")
    await phone.fill("#token", token)
    await phone.click("button[type=submit]")
    assert await phone.text_content("[data-testid=alerts-link]") == "Alerts · 2 open"
    await phone.click("a[href='/admin/alerts']")
    await phone.wait_for_selector("[data-testid=open-alerts]")
    async with hub.sessionmaker() as session:
        stored = {a.id: a for a in (await session.execute(select(Alert))).scalars()}
    shown = await rows_of(phone, "open-alerts")
    assert len(shown) == len(stored) == 2
    assert await phone.text_content("[data-testid=open-count]") == "2"
    for alert_id, since, severity, rule, subject, summary, _seen, notices in shown:
        alert = stored[int(alert_id)]
        assert (since, severity, rule, subject, summary) == (
            when(alert.opened_at), alert.severity, alert.rule, alert.subject, alert.summary)
        assert notices == "1"  # no destination configured: delivered to nobody, at once
    assert {r[3]: r[4] for r in shown} == {"dead-letters": "inbox", "provider-down": "outbox"}

    async with hub.sessionmaker() as session, session.begin():  # the provider is back
        await session.execute(update(ProviderHealth).values(state="closed", opened_at=None))
    await hub.alerts.run_once()
    await phone.reload()
    open_rows = await rows_of(phone, "open-alerts")
    recent = {r[4]: r for r in await rows_of(phone, "recent-alerts")}
    assert [r[3] for r in open_rows] == ["dead-letters"]
    async with hub.sessionmaker() as session:
        resolved = (await session.execute(select(Alert).where(
            Alert.rule == "provider-down"))).scalar_one()
    assert recent["provider-down"][1:4] == [when(resolved.opened_at),
                                            when(resolved.resolved_at), "resolved"]
    assert recent["dead-letters"][3] == "open"
    assert await phone.evaluate("document.documentElement.scrollWidth") <= 390
