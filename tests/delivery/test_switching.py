"""Provider switching against the fake providers through the real SDKs: failover with the
circuit breaker, Retry-After, parallel and weighted policies, bounce fallback, unknown SMS."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

from sqlalchemy import func, select

from hub.events import ReturnEvent
from hub.messages import OutboundMessage
from hub.store.engine import utcnow
from hub.store.models import DeliveryAttempt, Notification, PortalMessage
from hub.testing.factories import event_payload
from tests.conftest import wait_for
from tests.delivery.conftest import (
    free_port,
    message_id_of,
    provider_settings,
    start_hub,
    stop_hub,
)


def events(count: int, prefix: str) -> list[ReturnEvent]:
    return [ReturnEvent.model_validate({
        **event_payload("return.approved", f"{prefix}-{n}"), "source": "shop",
        "source_event_id": f"{prefix}-evt-{n}"}) for n in range(count)]


async def statuses(hub) -> Counter:
    async with hub.sessionmaker() as session:
        return Counter((await session.execute(select(Notification.status))).scalars())


async def test_primary_outage_fails_over_and_comes_back_exactly_once(tmp_path, providers):
    total = 2000
    port = free_port()
    settings = provider_settings(tmp_path, providers, port, sendgrid_policy={
        "breaker_failure_threshold": 3, "breaker_cooldown_seconds": 0.5})
    running = await start_hub(settings)
    hub = running.hub
    try:
        providers.sendgrid.fail_next(10**6, status=500)  # the primary is down...
        batch = events(total, "R-out")
        await hub.inbox.submit(batch[: total // 2], utcnow())
        await wait_for(lambda: len(providers.mandrill.records) >= total // 4, timeout=60)
        providers.sendgrid.reset_faults()  # ...and comes back mid-run
        await hub.inbox.submit(batch[total // 2:], utcnow())

        async def all_sent() -> bool:
            return (await statuses(hub))["sent"] == total
        await wait_for(all_sent, timeout=120)
    finally:
        await stop_hub(running)
    ids = [message_id_of(r) for r in providers.sendgrid.records + providers.mandrill.records]
    duplicates = sum(n - 1 for n in Counter(ids).values() if n > 1)
    async with hub.sessionmaker() as session:
        attempts = Counter((await session.execute(
            select(DeliveryAttempt.provider, DeliveryAttempt.outcome))).all())
    print(f"\nsendgrid accepted {len(providers.sendgrid.records)}, mandrill accepted "
          f"{len(providers.mandrill.records)}, sendgrid 500s {attempts[('sg', 'transient')]}, "
          f"duplicates {duplicates}")
    assert len(ids) == total and None not in ids and duplicates == 0
    assert len(providers.mandrill.records) >= total // 4  # the secondary took over
    assert len(providers.sendgrid.records) > 0  # the primary after the breaker closed
    # The open breaker skipped the primary: far fewer 500s than messages sent meanwhile.
    assert attempts[("sg", "transient")] < len(providers.mandrill.records) / 4


async def test_retry_after_is_honoured(tmp_path, providers):
    port = free_port()
    settings = provider_settings(tmp_path, providers, port, email={"providers": ["sg"]})
    running = await start_hub(settings)
    hub = running.hub
    try:
        providers.sendgrid.rate_limit_next(1, retry_after=2)
        await hub.inbox.submit(events(1, "R-429"), utcnow())
        await wait_for(lambda: len(providers.sendgrid.records) == 1, timeout=20)
    finally:
        await stop_hub(running)
    async with hub.sessionmaker() as session:
        attempts = list((await session.execute(
            select(DeliveryAttempt).order_by(DeliveryAttempt.id))).scalars())
    assert [a.outcome for a in attempts] == ["rate_limited", "accepted"]
    waited = attempts[1].started_at - attempts[0].started_at
    assert waited >= timedelta(seconds=1.9), waited


async def test_hard_bounce_sends_one_sms_and_no_second_email(tmp_path, providers):
    port = free_port()
    running = await start_hub(provider_settings(tmp_path, providers, port))
    hub = running.hub
    try:
        await hub.inbox.submit(events(1, "R-bounce"), utcnow())
        await wait_for(lambda: len(providers.sendgrid.records) == 1, timeout=20)
        record = providers.sendgrid.records[0]
        status = await providers.sendgrid.send_status(
            f"{running.url}/webhooks/sg", record, "bounce", reason="550 5.1.1 user unknown")
        assert status == 200
        # SendGrid repeats its events: the repeat changes nothing.
        await providers.sendgrid.send_status(f"{running.url}/webhooks/sg", record, "bounce",
                                             reason="550 5.1.1 user unknown")
        await wait_for(lambda: len(providers.twilio.records) == 1, timeout=20)
        await asyncio.sleep(0.5)
    finally:
        await stop_hub(running)
    assert len(providers.sendgrid.records) == 1 and len(providers.mandrill.records) == 0
    assert len(providers.twilio.records) == 1
    async with hub.sessionmaker() as session:
        rows = {n.channel: n for n in (await session.execute(select(Notification))).scalars()}
    assert rows["email"].status == "bounced"
    assert rows["sms"].fallback_of == rows["email"].id and rows["sms"].status == "sent"


async def test_a_late_bounce_of_an_earlier_providers_copy_undoes_no_delivery(tmp_path,
                                                                            providers, db_url):
    # Found from outside by an operator: SendGrid gave no receipt in time, Mandrill sent the
    # email and reported it opened, then SendGrid's late bounce of its own copy made the
    # email "bounced" and texted the customer who had opened it.
    settings = provider_settings(tmp_path, providers, free_port(), db_url=db_url,
                                 email={"receipt_deadline_seconds": 1})
    running = await start_hub(settings)
    hub = running.hub

    async def email_row() -> Notification:
        async with hub.sessionmaker() as session:
            return (await session.execute(select(Notification).where(
                Notification.channel == "email"))).scalar_one()
    try:
        await hub.inbox.submit(events(1, "R-late"), utcnow())
        await wait_for(lambda: len(providers.mandrill.records) == 1, timeout=20)
        assert await providers.mandrill.send_status(
            f"{running.url}/webhooks/md", providers.mandrill.records[0], "open") == 200

        async def delivered() -> bool:
            return (await email_row()).status == "delivered"
        await wait_for(delivered, timeout=20)
        assert await providers.sendgrid.send_status(
            f"{running.url}/webhooks/sg", providers.sendgrid.records[0], "bounce",
            reason="550 blocked by policy") == 200
        row = await email_row()
        async with hub.sessionmaker() as session:
            channels = sorted((await session.execute(select(Notification.channel))).scalars())
    finally:
        await stop_hub(running)
    assert (row.status, row.provider) == ("delivered", "md")
    assert channels == ["email"] and providers.twilio.records == []


async def test_parallel_policy_sends_through_every_provider_once(tmp_path, providers):
    port = free_port()
    settings = provider_settings(tmp_path, providers, port, email={"policy": "parallel"})
    running = await start_hub(settings)
    hub = running.hub
    try:
        await hub.inbox.submit(events(1, "R-par"), utcnow())

        async def sent() -> bool:
            return (await statuses(hub))["sent"] == 1
        await wait_for(sent, timeout=20)
    finally:
        await stop_hub(running)
    assert len(providers.sendgrid.records) == 1 and len(providers.mandrill.records) == 1
    async with hub.sessionmaker() as session:
        attempts = (await session.execute(select(func.count()).select_from(DeliveryAttempt))
                    ).scalar_one()
    assert attempts == 2


async def test_weighted_policy_splits_by_weight(tmp_path, providers):
    port = free_port()
    settings = provider_settings(tmp_path, providers, port,
                                 email={"policy": "weighted", "weights": [90, 10]})
    running = await start_hub(settings)
    try:
        router = running.hub.build_workers() or running.hub.dispatcher.router
        sends = [router.deliver(OutboundMessage(
            message_id=f"00000000-0000-4000-8000-{n:012d}", channel="email",
            to=f"c{n}@example.com", subject="s", text="t", from_address="shop@example.com"))
            for n in range(1000)]
        results = await asyncio.gather(*sends)
    finally:
        await stop_hub(running)
    assert all(r.status == "sent" for r in results)
    share = len(providers.sendgrid.records) / 1000
    print(f"\nweighted 90/10: sendgrid {len(providers.sendgrid.records)}, "
          f"mandrill {len(providers.mandrill.records)}")
    assert 0.87 <= share <= 0.93


async def _unknown_sms_run(tmp_path, providers, *, lookup_works: bool):
    port = free_port()
    settings = provider_settings(
        tmp_path, providers, port,
        stages={"approved": {"channels": ["sms"], "fallback": ["portal"]}},
        worker={"send_timeout_seconds": 0.5})
    settings.channels["sms"].reconcile_seconds = 0.5
    settings.channels["sms"].reconcile_window_seconds = 3  # then an SMS is given up on
    running = await start_hub(settings)
    hub = running.hub
    try:
        providers.twilio.go_silent(1)  # takes the message, never answers
        await hub.inbox.submit(events(1, "R-sms"), utcnow())
        if not lookup_works:
            await wait_for(lambda: len(providers.twilio.records) == 1, timeout=10)
            providers.twilio.fail_next(10**6, status=500)  # ...then answers nothing usable

        async def settled() -> bool:
            counts = await statuses(hub)
            return counts["sent"] + counts["failed"] >= 1 and counts["unknown"] == 0 \
                and counts["sending"] == 0 and counts["pending"] == 0
        await wait_for(settled, timeout=20)
        await asyncio.sleep(1)
    finally:
        providers.twilio.reset_faults()
        await stop_hub(running)
    async with hub.sessionmaker() as session:
        rows = {n.channel: n for n in (await session.execute(select(Notification))).scalars()}
        portal = (await session.execute(select(func.count()).select_from(PortalMessage))
                  ).scalar_one()
    return rows, portal


async def test_sms_with_unknown_outcome_is_reconciled_not_resent(tmp_path, providers):
    rows, portal = await _unknown_sms_run(tmp_path, providers, lookup_works=True)
    assert len(providers.twilio.records) == 1  # handed over once, found by the lookup
    assert rows["sms"].status == "sent" and portal == 0


async def test_sms_whose_fate_cannot_be_known_is_never_sent_twice(tmp_path, providers):
    rows, portal = await _unknown_sms_run(tmp_path, providers, lookup_works=False)
    assert len(providers.twilio.records) == 1
    assert rows["sms"].status == "failed" and "never sent twice" in rows["sms"].last_error
    assert "within the reconcile window" in rows["sms"].last_error
    assert rows["portal"].status == "sent" and portal == 1  # told once, on the portal
