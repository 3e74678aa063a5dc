"""The alert evaluator against a real store (SQLite and PostgreSQL): each rule kind opens,
deduplicates, reminds and resolves; notices are retried until every destination took them;
one node evaluates at a time."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from email import message_from_bytes
from email.policy import default
from typing import TYPE_CHECKING

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, update

from hub.checks import check_config
from hub.config import ConfigError, load_settings
from hub.events import ReturnEvent
from hub.runtime import Hub
from hub.store.engine import utcnow
from hub.store.models import DeliveryReceipt, InboxEvent, Notification
from hub.store.models_alerts import Alert
from hub.testing.factories import event_payload
from hub.web.app import create_app
from tests.alerts.receiver import ALERT_SECRET, AlertReceiver
from tests.conftest import make_settings
from tests.web.test_metrics import families, sample

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


def events(count: int, prefix: str) -> list[ReturnEvent]:
    return [ReturnEvent.model_validate({
        **event_payload("return.approved", f"{prefix}-{n}"), "source": "shop",
        "source_event_id": f"{prefix}-evt-{n}"}) for n in range(count)]


async def started(tmp_path, db_url, alerts) -> Hub:
    hub = Hub.build(make_settings(tmp_path, db_url, alerts={"interval_seconds": 1, **alerts}))
    await hub.start(workers=False)
    hub.build_workers()
    await hub.dispatcher.start()
    return hub


@pytest.fixture
async def receiver() -> AsyncIterator[AlertReceiver]:
    async with AlertReceiver() as instance:
        yield instance


async def alerts_of(hub) -> list[Alert]:
    async with hub.sessionmaker() as session:
        return list((await session.execute(select(Alert).order_by(Alert.id))).scalars())


async def test_dead_letters_fire_once_remind_and_resolve(tmp_path, db_url, receiver):
    hub = await started(tmp_path, db_url, {
        "renotify_minutes": 30, "webhooks": [{"url": receiver.url, "secret": ALERT_SECRET}],
        "rules": [{"name": "dead", "kind": "dead_letters", "threshold": 2}]})
    try:
        await hub.inbox.submit(events(3, "R-dead"), utcnow())
        now = utcnow()
        await hub.alerts.run_once(now)
        assert receiver.states() == []  # nothing dead yet
        async with hub.sessionmaker() as session, session.begin():
            await session.execute(update(InboxEvent).values(status="failed"))
        for minutes in (1, 2, 3):  # three passes, one alert, one notice
            await hub.alerts.run_once(now + timedelta(minutes=minutes))
        assert receiver.states() == ["firing"]
        assert receiver.notices[0]["alert"]["subject"] == "inbox"
        assert "3 dead letters in the inbox" in receiver.notices[0]["text"]
        await hub.alerts.run_once(now + timedelta(minutes=40))  # still firing: a reminder
        assert receiver.states() == ["firing", "reminder"]
        async with hub.sessionmaker() as session, session.begin():
            await session.execute(update(InboxEvent).values(status="done"))
        await hub.alerts.run_once(now + timedelta(minutes=41))
        await hub.alerts.run_once(now + timedelta(minutes=42))
        assert receiver.states() == ["firing", "reminder", "resolved"]
        [alert] = await alerts_of(hub)
        assert (alert.status, alert.notices_sent, alert.open_key) == ("resolved", 3, None)
        # It fires again later: a new alert, not the resolved one reopened.
        async with hub.sessionmaker() as session, session.begin():
            await session.execute(update(InboxEvent).values(status="failed"))
        await hub.alerts.run_once(now + timedelta(minutes=50))
        assert [a.status for a in await alerts_of(hub)] == ["resolved", "open"]
        assert receiver.states()[-1] == "firing"
    finally:
        await hub.stop()


async def test_a_refused_notice_is_retried_with_the_same_id(tmp_path, db_url, receiver):
    hub = await started(tmp_path, db_url, {
        "webhooks": [{"url": receiver.url, "secret": ALERT_SECRET}],
        "email": ["oncall@example.com"],
        "rules": [{"name": "dead", "kind": "dead_letters", "threshold": 0}]})
    try:
        await hub.inbox.submit(events(1, "R-retry"), utcnow())
        async with hub.sessionmaker() as session, session.begin():
            await session.execute(update(InboxEvent).values(status="failed"))
        receiver.fail_status = 503
        await hub.alerts.run_once()
        [alert] = await alerts_of(hub)
        # The email went out; the webhook is still owed, with why (no address in it).
        assert alert.notice == "firing" and alert.notice_done == ["email:0"]
        assert alert.notice_error == "webhook:0: HTTP 503"
        receiver.fail_status = 0
        await hub.alerts.run_once()
        await hub.alerts.run_once()
        [alert] = await alerts_of(hub)
        assert alert.notice is None and alert.notices_sent == 1
        assert receiver.states() == ["firing"]
        assert receiver.attempts == [receiver.ids[0]] * 2  # the retry kept its id
        mails = [message_from_bytes(p.read_bytes(), policy=default)
                 for p in (tmp_path / "outbox").rglob("*") if p.is_file()]
        assert [m["To"] for m in mails] == ["oncall@example.com"]  # once, despite the retry
        assert "FIRING" in mails[0]["Subject"] and "dead letters" in mails[0].get_content()
    finally:
        await hub.stop()


async def test_a_source_silent_longer_than_usual(tmp_path, db_url, receiver):
    hub = await started(tmp_path, db_url, {
        "webhooks": [{"url": receiver.url, "secret": ALERT_SECRET}],
        "rules": [{"name": "quiet", "kind": "source_silent", "factor": 3,
                   "floor_minutes": 10}]})
    try:
        start = utcnow() - timedelta(hours=3)
        for n, event in enumerate(events(8, "R-gap")):  # one event every 5 minutes
            await hub.inbox.submit([event], start + timedelta(minutes=5 * n))
        last = start + timedelta(minutes=35)
        await hub.alerts.run_once(last + timedelta(minutes=14))  # < 3 × 5 min: usual
        assert receiver.states() == []
        await hub.alerts.run_once(last + timedelta(minutes=16))
        assert receiver.states() == ["firing"]
        assert receiver.notices[0]["alert"]["subject"] == "shop"
        await hub.inbox.submit(events(1, "R-back"), last + timedelta(minutes=17))
        await hub.alerts.run_once(last + timedelta(minutes=18))
        assert receiver.states() == ["firing", "resolved"]
    finally:
        await hub.stop()


async def test_bounce_rate_per_provider(tmp_path, db_url, receiver):
    hub = await started(tmp_path, db_url, {
        "webhooks": [{"url": receiver.url, "secret": ALERT_SECRET}],
        "rules": [{"name": "bounces", "kind": "bounce_rate", "threshold": 0.2,
                   "min_messages": 10}]})
    try:
        await hub.inbox.submit(events(10, "R-b"), utcnow())
        await hub.drain()
        async with hub.sessionmaker() as session, session.begin():
            sent = list((await session.execute(select(Notification).where(
                Notification.status == "sent"))).scalars())
            assert len(sent) >= 10 and {n.provider for n in sent} == {"outbox"}
            for n, row in enumerate(sent[:len(sent) // 5 + 1]):  # just above 20 %
                session.add(DeliveryReceipt(
                    provider="outbox", event_id=f"b-{n}", notification_id=row.id,
                    status="bounced", occurred_at=utcnow(), received_at=utcnow()))
        await hub.alerts.run_once()
        assert receiver.states() == ["firing"]
        assert "bounce rate of outbox" in receiver.notices[0]["text"]
        await hub.alerts.run_once(utcnow() + timedelta(minutes=61))  # out of the window
        assert receiver.states() == ["firing", "resolved"]
    finally:
        await hub.stop()


async def test_one_node_evaluates_at_a_time(tmp_path, db_url, receiver):
    config = {"webhooks": [{"url": receiver.url, "secret": ALERT_SECRET}],
              "rules": [{"name": "dead", "kind": "dead_letters", "threshold": 0}]}
    first = await started(tmp_path, db_url, config)
    second = await started(tmp_path, db_url, config)
    try:
        assert await first.alerts.run_once() is True
        assert await second.alerts.run_once() is False
        later = utcnow() + timedelta(minutes=10)  # the first node's lease ran out
        assert await second.alerts.run_once(later) is True
    finally:
        await second.stop()
        await first.stop()


def test_a_rate_rule_without_threshold_is_refused(tmp_path):
    path = tmp_path / "returnhub.toml"
    path.write_text('[[alerts.rules]]\nname = "b"\nkind = "bounce_rate"\n'
                    '[[alerts.rules]]\nname = "x"\nkind = "nonsense"\n')
    with pytest.raises(ConfigError) as error:
        load_settings(path)
    text = "\n".join(error.value.problems)
    assert "alerts.rules.0" in text and "needs a threshold" in text
    assert "alerts.rules.1.kind" in text


def test_operators_on_a_channel_without_providers_are_refused(tmp_path):
    path = tmp_path / "returnhub.toml"
    path.write_text('[alerts]\nsms = ["+15555550100"]\n')
    with pytest.raises(ConfigError) as error:
        load_settings(path)
    assert any(p.startswith("alerts.sms: channel 'sms' has no [channels.sms] section")
               for p in error.value.problems)
    assert "+15555550100" not in "\n".join(error.value.problems)


def test_check_names_an_alert_webhook_the_outbound_guard_refuses(tmp_path):
    hook = {"url": "http://127.0.0.1:9/hooks/T000/B000/secret-path", "secret": ALERT_SECRET}
    refused = make_settings(tmp_path, alerts={"webhooks": [hook]},
                            security={"outbound_allow": []})
    with pytest.raises(ConfigError) as error:
        check_config(refused, warn=None)
    [problem] = [p for p in error.value.problems if p.startswith("alerts.webhooks.0.url:")]
    assert "outbound guard" in problem and "secret-path" not in problem
    allowed = make_settings(tmp_path, alerts={"webhooks": [hook]})  # 127.0.0.0/8 allowed
    check_config(allowed, warn=None)


async def test_an_alert_of_a_removed_rule_is_resolved(tmp_path, db_url, receiver):
    config = {"webhooks": [{"url": receiver.url, "secret": ALERT_SECRET}],
              "rules": [{"name": "dead", "kind": "dead_letters", "threshold": 0}]}
    hub = await started(tmp_path, db_url, config)
    try:
        await hub.inbox.submit(events(1, "R-gone"), utcnow())
        async with hub.sessionmaker() as session, session.begin():
            await session.execute(update(InboxEvent).values(status="failed"))
        await hub.alerts.run_once()
    finally:
        await hub.stop()
    renamed = {**config, "rules": [{"name": "dead-v2", "kind": "dead_letters",
                                    "threshold": 5}]}
    hub = await started(tmp_path, db_url, renamed)  # restarted with the rule replaced
    try:
        # (run_once never gives the lease back: the new node waits for it to run out)
        assert await hub.alerts.run_once(utcnow() + timedelta(minutes=2))
        assert receiver.states() == ["firing", "resolved"]
        [alert] = await alerts_of(hub)
        assert alert.status == "resolved" and alert.summary.startswith("rule removed")
    finally:
        await hub.stop()


async def test_open_alerts_are_a_metric(tmp_path, db_url):
    hub = await started(tmp_path, db_url, {"rules": [
        {"name": "dead", "kind": "dead_letters", "threshold": 0, "severity": "warning"}]})
    try:
        await hub.inbox.submit(events(1, "R-metric"), utcnow())
        async with hub.sessionmaker() as session, session.begin():
            await session.execute(update(InboxEvent).values(status="failed"))
        await hub.alerts.run_once()
        async with TestClient(TestServer(create_app(hub))) as client:
            found = families(await (await client.get("/metrics")).text())
        assert sample(found["returnhub_alerts_open"], rule="dead", severity="warning") == 1
    finally:
        await hub.stop()


async def test_overlapping_passes_of_one_node_notify_once(tmp_path, db_url, receiver):
    hub = await started(tmp_path, db_url, {
        "webhooks": [{"url": receiver.url, "secret": ALERT_SECRET}],
        "rules": [{"name": "dead", "kind": "dead_letters", "threshold": 0}]})
    try:
        await hub.inbox.submit(events(1, "R-twice"), utcnow())
        async with hub.sessionmaker() as session, session.begin():
            await session.execute(update(InboxEvent).values(status="failed"))
        await asyncio.gather(*(hub.alerts.run_once() for _ in range(4)))
        assert receiver.states() == ["firing"]
        assert len(await alerts_of(hub)) == 1
    finally:
        await hub.stop()


async def test_alert_email_takes_the_internal_category_route(tmp_path, db_url):
    sinks = {"outbox": {"type": "file", "directory": str(tmp_path / "outbox")},
             "ops": {"type": "file", "directory": str(tmp_path / "ops")}}
    channels = {"email": {"providers": ["outbox"],
                          "categories": {"internal": {"providers": ["ops"]}}},
                "sms": {"providers": ["outbox"]}}
    hub = Hub.build(make_settings(tmp_path, db_url, sinks=sinks, channels=channels, alerts={
        "email": ["oncall@example.com"],
        "rules": [{"name": "dead", "kind": "dead_letters", "threshold": 0}]}))
    await hub.start(workers=False)
    hub.build_workers()
    try:
        await hub.inbox.submit(events(1, "R-internal"), utcnow())
        async with hub.sessionmaker() as session, session.begin():
            await session.execute(update(InboxEvent).values(status="failed"))
        await hub.alerts.run_once()
        mails = [message_from_bytes(p.read_bytes(), policy=default)
                 for p in (tmp_path / "ops").rglob("*") if p.is_file()]
        assert [m["To"] for m in mails] == ["oncall@example.com"]
        assert not (tmp_path / "outbox").exists() or not any(
            p.is_file() for p in (tmp_path / "outbox").rglob("*"))
    finally:
        await hub.stop()
