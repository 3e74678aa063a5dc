"""Issue 17's must-show: a provider outage raises an alert once and resolves it, both notices
reaching a real webhook receiver that verifies their signatures (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from hub.alerts.settings import AlertSettings
from hub.store.engine import utcnow
from hub.store.models import ProviderHealth
from hub.store.models_alerts import Alert
from tests.alerts.receiver import ALERT_SECRET, AlertReceiver
from tests.conftest import wait_for
from tests.delivery.conftest import free_port, provider_settings, start_hub, stop_hub
from tests.delivery.test_switching import events


async def breaker_state(hub) -> str | None:
    async with hub.sessionmaker() as session:
        return (await session.execute(select(ProviderHealth.state).where(
            ProviderHealth.provider == "sg"))).scalar_one_or_none()


async def test_provider_outage_fires_once_and_resolves_at_the_receiver(tmp_path, providers,
                                                                       db_url):
    async with AlertReceiver() as receiver:
        settings = provider_settings(tmp_path, providers, free_port(), db_url=db_url,
                                     sendgrid_policy={"breaker_failure_threshold": 3,
                                                      "breaker_cooldown_seconds": 0.5})
        settings = settings.model_copy(update={"alerts": AlertSettings(
            interval_seconds=0.1, renotify_minutes=60,
            rules=[{"name": "sendgrid-down", "kind": "breaker_open", "minutes": 0}],
            webhooks=[{"url": receiver.url, "secret": ALERT_SECRET}])})
        running = await start_hub(settings)
        hub = running.hub
        try:
            providers.sendgrid.fail_next(10**6, status=500)  # the provider goes down
            await hub.inbox.submit(events(20, "R-down"), utcnow())
            await wait_for(lambda: receiver.states() == ["firing"], timeout=30)
            # Still down through several evaluations: no second notice.
            opened = await breaker_state(hub)
            for _ in range(5):
                await hub.alerts.run_once()
            assert receiver.states() == ["firing"] and opened == "open"

            providers.sendgrid.reset_faults()  # it comes back
            later = iter(events(200, "R-up"))

            async def resolved() -> bool:
                # Only mail probes a breaker: keep some coming until it has closed.
                await hub.inbox.submit([next(later)], utcnow())
                return receiver.states() == ["firing", "resolved"]
            await wait_for(resolved, timeout=30, interval=0.1)
            assert await breaker_state(hub) == "closed"

            async def settled() -> bool:  # the delivery is written after the receiver's 200
                async with hub.sessionmaker() as session:
                    return (await session.execute(select(Alert.notice))).scalar_one() is None
            await wait_for(settled)
        finally:
            await stop_hub(running)
    assert receiver.rejected == 0
    firing, resolved = receiver.notices
    assert firing["alert"]["subject"] == "sg" and firing["alert"]["rule"] == "sendgrid-down"
    assert "FIRING" in firing["text"] and firing["blocks"][0]["type"] == "header"
    assert "RESOLVED" in resolved["text"]
    assert len(set(receiver.ids)) == 2
    async with hub.sessionmaker() as session:
        alerts = list((await session.execute(select(Alert))).scalars())
    assert [(a.status, a.notices_sent, a.notice, a.open_key) for a in alerts] == [
        ("resolved", 2, None, None)]
    assert Counter(a.subject for a in alerts) == {"sg": 1}
