"""A campaign survives ``kill -9`` of its worker, on SQLite and PostgreSQL, through the fake
Twilio as its own process (issue 17): a worker killed mid-plan (the planning cursor part way)
and another killed mid-send (some texts accepted, others claimed) leave every consenting
customer with exactly one message, and nobody without consent with any."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select

from hub.campaigns import service
from hub.store.models import Notification
from hub.store.models_campaigns import Campaign
from hub.testing.campaign_seed import seed_customers
from tests.conftest import wait_for
from tests.reliability.support import SmsRig, kill, records

CUSTOMERS = 600  # every second one consents: 300 texts


@pytest.mark.slow
async def test_a_campaign_killed_mid_plan_and_mid_send_reaches_everyone_once(tmp_path, db_url):
    rig = SmsRig(tmp_path, db_url, sink="rate_limit_per_second = 80",
                 extra="[campaigns]\nbatch_size = 5\npoll_seconds = 0.05")
    record, worker = rig.record, rig.worker

    async def campaign_row() -> Campaign:
        async with hub.sessionmaker() as session:
            return await session.get(Campaign, campaign.id, populate_existing=True)

    try:
        hub = await rig.start_hub()
        await seed_customers(hub.sessionmaker, hub.codec, CUSTOMERS, consent_every=2)
        await service.create_segment(hub, "everyone", 'state in ["refunded", '
                                     '"exchange_shipped"]')
        campaign = await service.create_campaign(
            hub, name="swap", segment="everyone", template="campaigns/exchange_offer",
            channels=["sms"], rate_per_second=1000, start_at=None)
        await service.change(hub, campaign.id, "launch")

        first = worker()
        mid_plan = await wait_for(lambda: _planning_started(campaign_row), timeout=60,
                                  interval=0.01)
        kill(first)
        assert not (await campaign_row()).planning_done, "planning ended before the kill"

        second = worker()
        await wait_for(lambda: 20 <= len(records(record)), timeout=60, interval=0.01)
        kill(second)
        accepted_at_kill = len(records(record))
        async with hub.sessionmaker() as session:
            in_flight = await session.scalar(select(func.count()).where(
                Notification.campaign_id == campaign.id, Notification.status == "sending"))

        worker()

        async def done() -> bool:
            return (await campaign_row()).status == "done"
        await wait_for(done, timeout=120, interval=0.1)
        async with hub.sessionmaker() as session:
            statuses = Counter((await session.execute(select(Notification.status).where(
                Notification.campaign_id == campaign.id))).scalars())
    finally:
        await rig.close()
    texts = Counter(r["request"]["To"] for r in records(record))
    consenting = {f"+1415{2_000_000 + n:07d}" for n in range(2, CUSTOMERS + 1, 2)}
    print(f"\ncursor at the first kill: {mid_plan}; texts accepted at the second kill: "
          f"{accepted_at_kill}, claimed then: {in_flight}; accepted in all: "
          f"{sum(texts.values())}; statuses: {dict(statuses)}")
    assert set(texts) == consenting  # everyone who consents, nobody who does not
    assert max(texts.values()) == 1  # once
    assert statuses == {"sent": len(consenting)}


async def _planning_started(campaign_row) -> int | None:  # noqa: ANN001
    row = await campaign_row()
    return row.cursor or None
