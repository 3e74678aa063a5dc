"""Engagement recorded from provider status webhooks, and the rates the dashboard computes
from it, on SQLite and PostgreSQL (docs/engagement.md)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from hub import consent
from hub.store.engine import utcnow
from hub.store.models import (
    Customer,
    DeliveryAttempt,
    DeliveryReceipt,
    Notification,
    PortalView,
    Return,
)
from hub.store.models_engagement import MessageEngagement
from hub.web.dashboard.engagement_stats import compute_engagement
from returnhub_sendgrid.events import parse_events
from returnhub_twilio.status import parse_webhook
from tests.web.conftest import seed


async def _notification(hub, reference: str, stage: str, channel: str) -> Notification:
    async with hub.sessionmaker() as session:
        return (await session.execute(select(Notification).join(
            Return, Return.id == Notification.return_id).where(
            Return.external_id == reference, Notification.stage == stage,
            Notification.channel == channel))).scalar_one()


async def _webhook(hub, *events: dict) -> int:
    """Record SendGrid Event Webhook events as the status webhook does."""
    updates = parse_events(list(events), utcnow())
    async with hub.sessionmaker() as session, session.begin():
        return await hub.receipts.record(session, "sg", "email", updates, utcnow())


def _event(name: str, notification: Notification, event_id: str, ts: int) -> dict:
    return {"event": name, "timestamp": ts, "sg_event_id": event_id,
            "sg_message_id": f"SG{event_id}.filter",
            "returnhub_message_id": notification.id, "email": "someone@example.com"}


async def _customer_id(hub, reference: str) -> int:
    async with hub.sessionmaker() as session:
        return (await session.execute(select(Return.customer_id).where(
            Return.external_id == reference))).scalar_one()


async def _engagement(hub) -> dict[tuple[str, str], tuple[int, str]]:
    async with hub.sessionmaker() as session:
        rows = (await session.execute(select(MessageEngagement))).scalars()
        return {(r.notification_id, r.kind): (r.events, r.provider) for r in rows}


async def test_opens_clicks_unsubscribes_and_spam_reports_are_recorded_once_per_message(
        hub, client):
    await seed(client, hub, "EN-1", "return.requested", "return.approved")
    requested = await _notification(hub, "EN-1", "requested", "email")
    approved = await _notification(hub, "EN-1", "approved", "email")
    ts = int(utcnow().timestamp())
    async with hub.sessionmaker() as session, session.begin():  # the customer opted in
        await consent.record(session, await _customer_id(hub, "EN-1"), "email", True, "api",
                             utcnow())

    assert await _webhook(hub, _event("open", approved, "o1", ts),
                          _event("open", approved, "o2", ts + 60),
                          _event("click", approved, "c1", ts + 61)) == 3
    # SendGrid redelivers a batch: nothing counts twice.
    assert await _webhook(hub, _event("open", approved, "o1", ts)) == 0
    assert await _webhook(hub, _event("spamreport", requested, "s1", ts + 5)) == 1
    found = await _engagement(hub)
    assert found == {(approved.id, "open"): (2, "sg"), (approved.id, "click"): (1, "sg"),
                     (requested.id, "complaint"): (1, "sg")}
    # An earlier open arriving late moves the first time back, counted in one statement.
    assert await _webhook(hub, _event("open", approved, "o0", ts - 30)) == 1
    async with hub.sessionmaker() as session:
        row = (await session.execute(select(MessageEngagement).where(
            MessageEngagement.notification_id == approved.id,
            MessageEngagement.kind == "open"))).scalar_one()
        assert row.events == 3 and row.last_at - row.first_at == timedelta(seconds=90)
        customer = (await session.execute(select(Customer).join(
            Return, Return.customer_id == Customer.id).where(
            Return.external_id == "EN-1"))).scalar_one()
        before = await consent.current(session, customer.id, "email")
    # The spam report withdrew marketing consent on email, with its source; transactional
    # email (the channel preference) stays on.
    assert (before.granted, before.source) == (False, "spam_report")
    assert customer.preferences.get("email") is not False
    async with hub.sessionmaker() as session, session.begin():
        await consent.record(session, customer.id, "email", True, "api", utcnow())
    assert await _webhook(hub, _event("unsubscribe", approved, "u1", ts + 90)) == 1
    async with hub.sessionmaker() as session:
        after = await consent.current(session, customer.id, "email")
        assert (after.granted, after.source) == (False, "unsubscribe")
        assert (await consent.current(session, customer.id, "sms")).source is None


async def test_rates_latency_availability_and_response_match_hand_counts(hub, client):
    r1 = await seed(client, hub, "RT-1", "return.requested", "return.approved")
    r2 = await seed(client, hub, "RT-2", "return.approved")
    ts = int(utcnow().timestamp())
    r1_approved = await _notification(hub, "RT-1", "approved", "email")
    r2_approved = await _notification(hub, "RT-2", "approved", "email")
    r1_requested = await _notification(hub, "RT-1", "requested", "email")
    r2_sms = await _notification(hub, "RT-2", "approved", "sms")
    await _webhook(hub, _event("open", r1_approved, "a", ts), _event("open", r1_approved, "b", ts),
                   _event("click", r2_approved, "c", ts),  # a click with no open: opened
                   _event("unsubscribe", r1_requested, "d", ts))
    now = utcnow()
    noon = now.replace(hour=12, minute=0, second=0, microsecond=0)  # one UTC day for all ten
    async with hub.sessionmaker() as session, session.begin():
        await session.execute(update(Notification).where(Notification.id == r2_sms.id)
                              .values(status="bounced"))
        sent_at = {n.return_id: n.sent_at for n in (await session.execute(
            select(Notification))).scalars()}
        durations = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
        outcomes = ["accepted"] * 6 + ["permanent", "rate_limited", "transient", "unknown"]
        for number, (ms, outcome) in enumerate(zip(durations, outcomes, strict=True)):
            session.add(DeliveryAttempt(notification_id=r1_approved.id, attempt_no=number + 1,
                                        provider="sg", outcome=outcome, duration_ms=ms,
                                        started_at=noon - timedelta(seconds=number)))
        session.add(PortalView(return_id=r1, viewed_at=sent_at[r1] + timedelta(days=1)))
        session.add(PortalView(return_id=r2, viewed_at=sent_at[r2] + timedelta(days=5)))

    async with hub.sessionmaker() as session:
        figures = await compute_engagement(session, 14, 3, now=now + timedelta(days=6))
        week = await compute_engagement(session, 14, 7, now=now + timedelta(days=6))
    stages = {r.key: r for r in figures.rates["stage"]}
    approved = stages["approved"]
    assert (approved.sent, approved.opened, approved.clicked, approved.bounced,
            approved.unsubscribed) == (4, 2, 1, 1, 0)
    assert approved.rates() == {"opened": 50.0, "clicked": 25.0, "bounced": 25.0,
                                "unsubscribed": 0.0, "complained": 0.0}
    assert stages["requested"].rates()["unsubscribed"] == 100.0
    assert [(r.key, r.sent, r.opened) for r in figures.rates["campaign"]] == [("none", 5, 2)]
    # Campaign messages group by campaign id (the column the campaign work added).
    async with hub.sessionmaker() as session, session.begin():
        await session.execute(update(Notification).where(
            Notification.id.in_((r1_approved.id, r2_approved.id))).values(campaign_id=7))
    async with hub.sessionmaker() as session:
        campaigns = await compute_engagement(session, 14, 3, now=now + timedelta(days=6))
    assert [(r.key, r.sent, r.opened, r.clicked) for r in campaigns.rates["campaign"]] == [
        ("7", 2, 2, 1), ("none", 3, 0, 0)]
    assert [(r.key, r.sent) for r in figures.rates["provider"]] == [("outbox", 5)]
    sg = [d for d in figures.providers if d.provider == "sg"]
    assert [(d.day, d.calls, d.answered, d.p50_ms, d.p95_ms, d.availability) for d in sg] == [
        (noon.strftime("%Y-%m-%d"), 10, 8, 50.0, 100.0, 80.0)]
    response = {r["channel"]: (r["sent"], r["responded"]) for r in figures.response}
    assert response == {"email": (3, 2), "sms": (2, 1)}
    assert {r["channel"]: r["responded"] for r in week.response} == {"email": 3, "sms": 2}


async def test_an_sms_reply_counts_for_the_last_sms_sent_to_its_sender(hub, client):
    await seed(client, hub, "RP-1", "return.approved")
    await seed(client, hub, "RP-2", "return.approved")
    sms = await _notification(hub, "RP-1", "approved", "sms")
    other = await _notification(hub, "RP-2", "approved", "sms")
    phone = hub.cipher.decrypt(sms.recipient_enc)
    stranger = "+14155550999"
    assert hub.cipher.lookup_hash(stranger) not in (sms.recipient_hash, other.recipient_hash)

    def reply(sender: str, sid: str, days: float):
        fields = {"MessageSid": sid, "From": sender, "To": "+14155550100",
                  "Body": "Where is my refund?", "SmsStatus": "received"}
        return parse_webhook(fields, {}, {}, sms.sent_at + timedelta(days=days))

    async with hub.sessionmaker() as session, session.begin():
        assert await hub.receipts.record(
            session, "outbox", "sms", reply(phone, "SM1", 2) + reply(stranger, "SM2", 2),
            utcnow()) == 2
    assert await _engagement(hub) == {(sms.id, "reply"): (1, "outbox")}
    async with hub.sessionmaker() as session:
        raw = (await session.execute(select(DeliveryReceipt.raw_enc).where(
            DeliveryReceipt.status == "replied").limit(1))).scalar_one()
        assert b"refund" not in hub.codec.cipher.decrypt_bytes(raw)  # the text is not kept
        later = sms.sent_at + timedelta(days=4)
        three = await compute_engagement(session, 14, 3, now=later)
        one = await compute_engagement(session, 14, 1, now=later)
    assert {r["channel"]: (r["sent"], r["responded"]) for r in three.response}["sms"] == (2, 1)
    assert {r["channel"]: r["responded"] for r in one.response}["sms"] == 0
