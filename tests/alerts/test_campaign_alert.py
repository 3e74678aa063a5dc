"""The ``campaign_failing`` rule over a real campaign (h17a's planner and dispatcher): it fires
when the campaign's finished messages fail above the threshold, and resolves when they don't."""

from __future__ import annotations

from sqlalchemy import select, update

from hub.campaigns.service import change
from hub.store.models import Notification
from hub.store.models_alerts import Alert
from hub.testing.campaign_seed import seed_customers
from tests.alerts.receiver import ALERT_SECRET, AlertReceiver
from tests.alerts.test_evaluator import started
from tests.campaigns.test_planning import make_campaign


async def test_a_failing_campaign_alerts_by_name(tmp_path, db_url):
    async with AlertReceiver() as receiver:
        hub = await started(tmp_path, db_url, {
            "webhooks": [{"url": receiver.url, "secret": ALERT_SECRET}],
            "rules": [{"name": "campaign", "kind": "campaign_failing", "threshold": 0.25,
                       "min_messages": 4}]})
        try:
            await seed_customers(hub.sessionmaker, hub.codec, 40, consent_every=2)
            campaign = await make_campaign(hub, "shoes")
            await change(hub, campaign.id, "launch")
            await hub.campaigns.plan_all(campaign.id)
            await hub.drain()
            async with hub.sessionmaker() as session:
                ids = list((await session.execute(select(Notification.id).where(
                    Notification.campaign_id == campaign.id, Notification.status == "sent")
                    .order_by(Notification.id))).scalars())
            assert len(ids) >= 8
            await hub.alerts.run_once()
            assert receiver.states() == []  # all sent: healthy
            async with hub.sessionmaker() as session, session.begin():
                await session.execute(update(Notification).where(
                    Notification.id.in_(ids[: len(ids) // 2])).values(status="dead"))
            await hub.alerts.run_once()
            assert receiver.states() == ["firing"]
            assert receiver.notices[0]["alert"]["subject"] == "shoes"
            assert "50.0% of" in receiver.notices[0]["text"]
            async with hub.sessionmaker() as session, session.begin():
                await session.execute(update(Notification).where(
                    Notification.id.in_(ids)).values(status="delivered"))
            await hub.alerts.run_once()
            assert receiver.states() == ["firing", "resolved"]
            async with hub.sessionmaker() as session:
                assert [a.status for a in (await session.execute(select(Alert))).scalars()] \
                    == ["resolved"]
        finally:
            await hub.stop()
