"""Segments and campaign planning on SQLite and PostgreSQL: the CEL filter picks the described
returns, every consenting customer is planned exactly once (across batches, replays and a
planner that fails mid-run), nobody without consent, and campaign rows yield to transactional
ones in the dispatcher's claim."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import pytest
from sqlalchemy import insert, select, update

from hub.campaigns import planner as planner_module
from hub.campaigns import service
from hub.events import ReturnEvent
from hub.runtime import Hub
from hub.store.engine import utcnow
from hub.store.models import Notification, Return, TimelineEntry
from hub.store.models_campaigns import Campaign
from hub.testing.campaign_seed import seed_customers
from hub.testing.factories import event_payload
from tests.conftest import claims_only

#: "Refunded in the last 30 days for wrong size, no exchange", shoes only.
FILTER = ('"refunded" in stages && days_since.refunded <= 30.0 && reason == "wrong_size" '
          '&& !exchange && "Shoes" in categories')


def in_segment(n: int) -> bool:
    """Seeded customer n (1..40, refunded 3 days ago) matches FILTER."""
    return n % 2 == 0 and n % 5 != 0


async def make_campaign(hub: Hub, name: str = "shoes", channels: list[str] | None = None,
                        rate: float = 1000.0) -> Campaign:
    await service.create_segment(hub, f"{name}-segment", FILTER)
    return await service.create_campaign(
        hub, name=name, segment=f"{name}-segment", template="campaigns/category_discount",
        channels=channels or ["email"], rate_per_second=rate, start_at=None)


async def campaign_rows(hub: Hub, campaign_id: int) -> list[Notification]:
    async with hub.sessionmaker() as session:
        return list((await session.execute(select(Notification).where(
            Notification.campaign_id == campaign_id))).scalars())


def recipients(hub: Hub, rows: list[Notification]) -> list[str]:
    return sorted(hub.cipher.decrypt(row.recipient_enc) for row in rows)


def expected(consent_every: int = 2) -> list[str]:
    return sorted(f"customer{n}@example.com" for n in range(1, 41)
                  if in_segment(n) and n % consent_every == 0)


@pytest.fixture
async def seeded(hub: Hub) -> Hub:
    """40 customers refunded 3 days ago (every 4th consents) and 10 refunded 60 days ago."""
    await seed_customers(hub.sessionmaker, hub.codec, 40, consent_every=4)
    await seed_customers(hub.sessionmaker, hub.codec, 10, start=41, consent_every=1,
                         days_ago=60)
    hub.settings.campaigns.batch_size = 7  # several batches, one cut mid-customer-range
    return hub


async def test_preview_counts_the_segment_and_renders_a_sample(seeded: Hub):
    campaign = await make_campaign(seeded)
    campaign, segment = await service.get_campaign(seeded, campaign.id)
    result = await service.preview(seeded, campaign, segment)
    members = [n for n in range(1, 41) if in_segment(n)]
    assert result["matched_returns"] == len(members) == 16
    assert result["audience"] == len(expected(4)) == 8
    assert result["without_consent"] == 8
    sample = result["sample"]["email"]
    assert "15% off Shoes" in sample["subject"]
    assert "COMEBACK15" in sample["text"] and "Customer" not in sample["text"]


async def test_every_consenting_customer_is_planned_once(seeded: Hub):
    campaign = await make_campaign(seeded, channels=["email", "sms"])
    await service.change(seeded, campaign.id, "launch")
    await seeded.campaigns.plan_all(campaign.id)
    rows = await campaign_rows(seeded, campaign.id)
    email = [row for row in rows if row.channel == "email"]
    assert recipients(seeded, email) == expected(4)
    assert len([row for row in rows if row.channel == "sms"]) == len(expected(4))
    assert all(row.priority == seeded.settings.campaigns.priority for row in rows)
    # A restart that replays the whole plan (cursor lost) adds nobody twice.
    async with seeded.sessionmaker() as session, session.begin():
        await session.execute(update(Campaign).where(Campaign.id == campaign.id)
                              .values(cursor=0, planning_done=False))
    await seeded.campaigns.plan_all(campaign.id)
    assert len(await campaign_rows(seeded, campaign.id)) == len(rows)


async def test_a_customer_with_returns_in_two_batches_is_counted_once(seeded: Hub):
    # Found from outside by a merchant: a customer without consent whose returns fell in two
    # batches was counted twice in "excluded" (the preview counted them once).
    async with seeded.sessionmaker() as session, session.begin():
        for n in (2, 4):  # in the segment; 2 has no consent, 4 has
            ret = (await session.execute(select(Return).where(
                Return.external_id == f"SEED-{n}"))).scalar_one()
            copy = {c.key: getattr(ret, c.key) for c in Return.__table__.c if c.key != "id"}
            again = (await session.execute(insert(Return).values(
                **{**copy, "external_id": f"SEED-{n}-again"}).returning(Return.id))).scalar_one()
            entry = (await session.execute(select(TimelineEntry).where(
                TimelineEntry.return_id == ret.id))).scalar_one()
            session.add(TimelineEntry(**{**{c.key: getattr(entry, c.key)
                                            for c in TimelineEntry.__table__.c if c.key != "id"},
                                         "return_id": again}))
    campaign = await make_campaign(seeded)
    found, segment = await service.get_campaign(seeded, campaign.id)
    preview = await service.preview(seeded, found, segment)
    assert (preview["audience"], preview["without_consent"]) == (8, 8)
    await service.change(seeded, campaign.id, "launch")
    await seeded.campaigns.plan_all(campaign.id)
    async with seeded.sessionmaker() as session:
        planned = await session.get(Campaign, campaign.id)
    assert (planned.planned, planned.excluded) == (8, 8)
    assert recipients(seeded, await campaign_rows(seeded, campaign.id)) == expected(4)


async def test_a_planner_failing_mid_run_resumes_from_its_cursor(seeded: Hub,
                                                                 monkeypatch: pytest.MonkeyPatch):
    campaign = await make_campaign(seeded)
    await service.change(seeded, campaign.id, "launch")
    real_read, calls = planner_module.read_batch, []

    async def failing_read(*args, **kwargs):  # noqa: ANN202
        if kwargs.get("up_to") is None:  # a batch, not the look back at earlier returns
            calls.append(kwargs["after"])
            if len(calls) == 3:
                raise ConnectionError("the database went away mid-batch")
        return await real_read(*args, **kwargs)

    monkeypatch.setattr(planner_module, "read_batch", failing_read)
    with pytest.raises(ConnectionError):
        await seeded.campaigns.plan_all(campaign.id)
    async with seeded.sessionmaker() as session:
        cursor = (await session.get(Campaign, campaign.id)).cursor
    assert cursor == calls[2] > 0  # two batches committed, the third left nothing behind
    await seeded.campaigns.plan_all(campaign.id)
    assert recipients(seeded, await campaign_rows(seeded, campaign.id)) == expected(4)


async def test_pause_resume_cancel_move_the_unsent_messages(seeded: Hub):
    campaign = await make_campaign(seeded)
    with pytest.raises(service.CampaignError) as refused:
        await service.change(seeded, campaign.id, "pause")
    assert refused.value.status == 409
    await service.change(seeded, campaign.id, "launch")
    await seeded.campaigns.plan_all(campaign.id)
    await service.change(seeded, campaign.id, "pause")
    assert {row.status for row in await campaign_rows(seeded, campaign.id)} == {"paused"}
    assert await seeded.dispatcher.claim(50) == []
    assert await seeded.campaigns.plan_batch(campaign.id) == 0  # paused: no planning
    await service.change(seeded, campaign.id, "resume")
    assert {row.status for row in await campaign_rows(seeded, campaign.id)} == {"pending"}
    await service.change(seeded, campaign.id, "cancel")
    rows = await campaign_rows(seeded, campaign.id)
    assert {row.status for row in rows} == {"skipped"}
    campaign, _ = await service.get_campaign(seeded, campaign.id)
    counts = await service.progress(seeded, campaign)
    assert (counts.planned, counts.skipped, counts.sent) == (len(expected(4)),) * 2 + (0,)


async def test_a_campaign_is_delivered_and_finishes(seeded: Hub, tmp_path):
    campaign = await make_campaign(seeded)
    await service.change(seeded, campaign.id, "launch")
    await seeded.campaigns.plan_all(campaign.id)
    await seeded.dispatcher.drain()
    await seeded.campaigns.plan_once()
    campaign, _ = await service.get_campaign(seeded, campaign.id)
    counts = await service.progress(seeded, campaign)
    assert campaign.status == "done"
    assert (counts.planned, counts.sent, counts.failed) == (len(expected(4)), len(expected(4)), 0)
    sent = "".join(path.read_text() for path in (tmp_path / "outbox").rglob("*") if path.is_file())
    assert sent.count("Subject: 15% off Shoes, for the one that got away") == len(expected(4))


async def test_transactional_rows_are_claimed_before_campaign_rows(seeded: Hub):
    campaign = await make_campaign(seeded, rate=1_000_000)
    await service.change(seeded, campaign.id, "launch")
    await seeded.campaigns.plan_all(campaign.id)
    # The campaign rows are due first: older next_attempt_at than the transactional ones.
    async with seeded.sessionmaker() as session, session.begin():
        await session.execute(update(Notification).where(Notification.campaign_id.is_not(None))
                              .values(next_attempt_at=utcnow() - timedelta(minutes=5)))
    # A transactional stage of a return that also has a campaign message pending.
    async with seeded.sessionmaker() as session:
        shared_return = (await campaign_rows(seeded, campaign.id))[0].return_id
    events = [ReturnEvent.model_validate({**event_payload("return.approved", f"T-{n}"),
                                          "source": "shop", "source_event_id": f"T-{n}"})
              for n in range(3)]
    claims_only(seeded)
    await seeded.inbox.submit(events, utcnow())
    await seeded.processor.drain()
    async with seeded.sessionmaker() as session, session.begin():
        transactional = list((await session.execute(select(Notification).where(
            Notification.campaign_id.is_(None)))).scalars())
        await session.execute(update(Notification).where(
            Notification.id == transactional[0].id).values(return_id=shared_return))
    cap = seeded.dispatcher.share.cap
    claimed = await seeded.dispatcher.claim(len(transactional) + 20)
    # Transactional rows only: campaign rows wait while any is claimed or in flight.
    assert [bool(item.notification.campaign_id) for item in claimed] == \
        [False] * len(transactional)
    claimed = await seeded.dispatcher.claim(20)  # nothing transactional left: spare capacity
    assert [bool(item.notification.campaign_id) for item in claimed] == \
        [True] * min(cap, len(expected(4)))


async def test_a_freed_campaign_slot_takes_the_next_message_at_once(seeded: Hub):
    """A campaign send that finishes wakes the dispatcher: with one campaign slot and an idle
    poll of a minute, the old loop sent one message a minute."""
    campaign = await make_campaign(seeded, rate=1_000_000)
    await service.change(seeded, campaign.id, "launch")
    await seeded.campaigns.plan_all(campaign.id)
    seeded.dispatcher.share.cap = 1
    seeded.dispatcher.settings.idle_poll_seconds = 60
    runner = asyncio.create_task(seeded.dispatcher.run())
    try:
        async with asyncio.timeout(30):
            while True:
                rows = await campaign_rows(seeded, campaign.id)
                if rows and all(row.status == "sent" for row in rows):
                    break
                await asyncio.sleep(0.05)
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
    assert len(rows) == len(expected(4)) > 1
