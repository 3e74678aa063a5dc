"""A campaign email a killed worker left mid-call (``sending``, a send intent, the lease run
out), through the fake SendGrid and Mandrill, on SQLite and PostgreSQL: no email provider can
be asked whether it took it, so it is failed, never sent a second time (a transactional email
is sent again; a promotion is sent at most once per recipient)."""

from __future__ import annotations

from sqlalchemy import select, update

from hub.campaigns import service
from hub.runtime import Hub
from hub.store.engine import utcnow
from hub.store.models import Notification
from hub.testing.campaign_seed import seed_customers
from tests.conftest import wait_for
from tests.delivery.conftest import free_port, provider_settings


async def test_a_campaign_email_cut_mid_call_is_not_sent_again(tmp_path, providers, db_url):
    hub = Hub.build(provider_settings(tmp_path, providers, free_port(), db_url=db_url,
                                      email={"reconcile_seconds": 0.2}))
    await hub.start(workers=False)
    hub.build_workers()
    await hub.dispatcher.start()
    try:
        await seed_customers(hub.sessionmaker, hub.codec, 2, consent_every=1)
        await service.create_segment(hub, "all", "true")
        campaign = await service.create_campaign(
            hub, name="offer", segment="all", template="campaigns/exchange_offer",
            channels=["email"], rate_per_second=1000, start_at=None)
        await service.change(hub, campaign.id, "launch")
        await hub.campaigns.plan_all(campaign.id)
        now = utcnow()
        async with hub.sessionmaker() as session, session.begin():
            cut = (await session.execute(select(Notification.id).order_by(Notification.id)
                                         .limit(1))).scalar_one()
            await session.execute(update(Notification).where(Notification.id == cut).values(
                status="sending", lease_owner="killed-node", lease_until=now,
                send_started_at=now, send_provider="sg"))

        async def settled() -> dict[str, str]:
            await hub.dispatcher.drain()
            async with hub.sessionmaker() as session:
                rows = dict((await session.execute(select(
                    Notification.id, Notification.status))).all())
            return rows if "sending" not in rows.values() and "unknown" not in rows.values() \
                else {}
        statuses = await wait_for(settled, timeout=20)
    finally:
        await hub.stop()
    sent_to_providers = len(providers.sendgrid.records) + len(providers.mandrill.records)
    assert statuses.pop(cut) == "failed"
    assert set(statuses.values()) == {"sent"}
    assert sent_to_providers == 1  # only the other customer's; the cut one not again
