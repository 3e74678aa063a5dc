"""The dashboard's numbers and its replay button, over HTTP (the browser tests drive it too)."""

from __future__ import annotations

from sqlalchemy import select, update

from hub.store.engine import utcnow
from hub.store.models import Notification, PortalView, Return
from hub.web.auth import csrf_token
from hub.web.dashboard.pages import duration, percent
from hub.web.dashboard.stats import compute_stats, percentile
from tests.web.conftest import new_token, seed


async def _sign_in(client, token: str) -> None:
    response = await client.post("/admin/session", data={"token": token}, allow_redirects=False)
    assert response.status == 303


async def test_stats_for_seeded_returns(portal_hub, portal_client):
    hub, client = portal_hub, portal_client
    await seed(client, hub, "DS-1", "return.requested", "return.approved", "return.received",
               "return.refunded")
    await seed(client, hub, "DS-2", "return.approved")
    async with hub.sessionmaker() as session, session.begin():
        row = (await session.execute(select(Notification).where(
            Notification.channel == "email").order_by(Notification.created_at.desc()).limit(1))
        ).scalar_one()
        await session.execute(update(Notification).where(Notification.id == row.id)
                              .values(status="dead", last_error="provider down"))
        # Both customers opened their return page.
        for ret in (await session.execute(select(Return))).scalars():
            session.add(PortalView(return_id=ret.id, viewed_at=utcnow()))
    async with hub.sessionmaker() as session:
        stats = await compute_stats(session, 14)
    # DS-1: 4 stages x (email + portal) = 8; DS-2: 2, one of them now dead.
    assert (stats.delivered, stats.failed) == (9, 1)
    assert stats.success_rate == 90.0
    assert stats.per_channel["email"] == {"ok": 4, "failed": 1, "bounced": 0, "rate": 80.0}
    assert stats.notify_count == 10 and stats.notify_p50 is not None
    assert stats.notify_p95 >= stats.notify_p50 >= 0
    # DS-1 went from requested (minute 1) to refunded (minute 4) on the timeline.
    assert stats.completion_count == 1 and stats.completion_p50 == 180.0
    assert stats.active_returns == 2 and stats.portal_viewed_returns == 2
    assert stats.deflection_rate == 100.0
    assert stats.queue == {"pending": 0, "sending": 0, "unknown": 0}
    names = [s["name"] for s in stats.series["series"]]
    assert names == ["email / outbox", "portal / portal"]
    email = stats.series["series"][0]
    assert email["failure_rate"][-1] == 20.0 and email["total"][-1] == 5

    token = await new_token(hub, "ops", "operate")
    await _sign_in(client, token)
    html = await (await client.get("/admin/")).text()
    assert 'data-testid="success-rate">90.0%' in html
    assert 'data-testid="completion-p50">3.0 min' in html
    assert row.id in html and "provider down" in html


async def test_replay_button_and_lookup(hub, client):
    token = await new_token(hub, "ops", "operate")
    return_id = await seed(client, hub, "DL-1", "return.approved")
    async with hub.sessionmaker() as session, session.begin():
        row = (await session.execute(select(Notification).limit(1))).scalar_one()
        await session.execute(update(Notification).where(Notification.id == row.id)
                              .values(status="dead"))
    await _sign_in(client, token)
    response = await client.post(f"/admin/dead-letters/notification/{row.id}/replay",
                                 data={"csrf": csrf_token(hub, token)}, allow_redirects=False)
    assert response.status == 303 and "flash=replayed" in response.headers["Location"]
    async with hub.sessionmaker() as session:
        assert (await session.get(Notification, row.id)).status == "pending"
    page = await (await client.get("/admin/", params={"q": "DL-1"})).text()
    assert 'data-testid="timeline"' in page and "Return DL-1" in page
    assert "return.approved" in page
    by_id = await (await client.get("/admin/", params={"return": str(return_id)})).text()
    assert "Return DL-1" in by_id
    read_only = await new_token(hub, "viewer", "read")
    await _sign_in(client, read_only)
    denied = await client.post(f"/admin/dead-letters/notification/{row.id}/replay",
                               data={"csrf": csrf_token(hub, read_only)}, allow_redirects=False)
    assert "flash=forbidden" in denied.headers["Location"]


def test_formatting_helpers():
    assert percentile([1, 2, 3, 4], 0.5) == 2
    assert percentile([1, 2, 3, 4], 0.95) == 4
    assert percentile([], 0.5) is None
    assert duration(None) == "–" and duration(0.25) == "250 ms"
    assert duration(90) == "1.5 min" and duration(7200) == "2.0 h"
    assert percent(None) == "–" and percent(97.25) == "97.2%"


async def test_updates_to_the_team_or_from_a_campaign_answer_no_customer(portal_hub,
                                                                        portal_client):
    # Found from outside by an admin: "Where is my return? answered" counted the support
    # team's review emails and campaign messages as answers the customer got.
    from hub.domain.effects import TEAM_STAGE

    hub, client = portal_hub, portal_client
    await seed(client, hub, "DT-1", "return.approved")
    await seed(client, hub, "DT-2", "return.approved")
    await seed(client, hub, "DT-3", "return.approved")
    async with hub.sessionmaker() as session, session.begin():
        refs = {r.external_id: r.id for r in (await session.execute(select(Return))).scalars()}
        await session.execute(update(Notification).where(
            Notification.return_id == refs["DT-1"], Notification.channel == "email")
            .values(stage=TEAM_STAGE))
        await session.execute(update(Notification).where(
            Notification.return_id == refs["DT-2"], Notification.channel == "email")
            .values(campaign_id=1))
    async with hub.sessionmaker() as session:
        stats = await compute_stats(session, 14)
    assert (stats.active_returns, stats.proactive_returns, stats.proactive_updates) == (3, 1, 1)
    assert round(stats.deflection_rate) == 33


async def test_time_to_notify_leaves_campaign_messages_out(portal_hub, portal_client):
    # Found from outside by a merchant: four paced campaign sends took the dashboard's p95
    # from 0.3 s to 8 s. A campaign message has no triggering event; its pacing is no delay.
    from datetime import timedelta

    from hub.web.metrics import Snapshot, _read

    hub, client = portal_hub, portal_client
    await seed(client, hub, "DC-1", "return.approved")
    await seed(client, hub, "DC-2", "return.approved")
    async with hub.sessionmaker() as session, session.begin():
        sent = (await session.execute(select(Notification).where(
            Notification.sent_at.is_not(None)).order_by(Notification.id))).scalars().all()
        paced = sent[0]
        await session.execute(update(Notification).where(Notification.id == paced.id).values(
            campaign_id=1, event_received_at=paced.sent_at - timedelta(hours=2)))
    async with hub.sessionmaker() as session:
        stats = await compute_stats(session, 14)
        snap = Snapshot()
        await _read(session, snap)
    assert stats.notify_count == len(sent) - 1 == snap.latency_count
    assert stats.notify_p95 < 3600 and snap.latency_sum < 3600
