"""Outcomes that are not what they seem, against the fake providers through the real SDKs, on
SQLite and PostgreSQL: a destination the outbound guard refuses (nothing left: fail over at
once), a Twilio 5xx after Twilio took the message (one SMS, found by the reconcile), and a
message list that cannot answer (the SMS stays unknown and is asked about again), and the
state a kill between a send intent and its call leaves (reconciled, then sent once)."""

from __future__ import annotations

from sqlalchemy import select, update

from hub.store.engine import utcnow
from hub.store.models import DeliveryAttempt, Notification, TimelineEntry
from tests.conftest import claims_only, started_hub, wait_for
from tests.delivery.conftest import free_port, message_id_of, provider_settings, start_hub, stop_hub
from tests.delivery.test_switching import events


async def notifications(hub) -> dict[str, Notification]:
    async with hub.sessionmaker() as session:
        return {n.channel: n for n in (await session.execute(select(Notification))).scalars()}


async def attempts(hub) -> list[tuple[str, str]]:
    async with hub.sessionmaker() as session:
        return [tuple(row) for row in (await session.execute(
            select(DeliveryAttempt.provider, DeliveryAttempt.outcome)
            .order_by(DeliveryAttempt.id))).all()]


async def test_a_refused_destination_fails_over_at_once_and_pauses_the_provider(
        tmp_path, providers, db_url):
    settings = provider_settings(tmp_path, providers, free_port(), db_url=db_url)
    settings.sinks["sg"]["base_url"] = "http://10.255.0.1:9"  # private: the guard refuses it
    settings.channels["email"].reconcile_seconds = 3600  # an unknown outcome would wait here
    running = await start_hub(settings)
    hub = running.hub
    try:
        await hub.inbox.submit(events(1, "R-guard"), utcnow())

        async def sent() -> bool:
            return (await notifications(hub)).get("email", Notification()).status == "sent"
        await wait_for(sent, timeout=15)
        state = hub.dispatcher.router.breakers["sg"].state
    finally:
        await stop_hub(running)
    assert [message_id_of(r) for r in providers.mandrill.records] == [
        (await notifications(hub))["email"].id]
    assert await attempts(hub) == [("sg", "misconfigured"), ("md", "accepted")]
    assert state == "open"  # forced open: the next message skips sg without trying it


def sms_settings(tmp_path, providers, db_url):
    settings = provider_settings(
        tmp_path, providers, free_port(), db_url=db_url,
        stages={"approved": {"channels": ["sms"], "fallback": ["portal"]}})
    settings.channels["sms"].reconcile_seconds = 0.2
    return settings


async def timeline_outcomes(hub, notification_id: str) -> list[str]:
    async with hub.sessionmaker() as session:
        return list((await session.execute(
            select(TimelineEntry.outcome).where(TimelineEntry.notification_id == notification_id)
            .order_by(TimelineEntry.id))).scalars())


async def test_a_twilio_5xx_after_twilio_took_the_sms_sends_it_once(tmp_path, providers, db_url):
    running = await start_hub(sms_settings(tmp_path, providers, db_url))
    hub = running.hub
    try:
        providers.twilio.fail_after_accept_next(1, 500)  # created, then answered 500
        await hub.inbox.submit(events(1, "R-5xx"), utcnow())

        async def settled() -> bool:
            return (await notifications(hub)).get("sms", Notification()).status in (
                "sent", "failed")
        await wait_for(settled, timeout=15)
    finally:
        await stop_hub(running)
    rows = await notifications(hub)
    assert [message_id_of(r) for r in providers.twilio.records] == [rows["sms"].id]
    assert rows["sms"].status == "sent" and "portal" not in rows  # found by the reconcile
    assert await attempts(hub) == [("tw", "unknown")]  # never sent a second time
    assert rows["sms"].send_provider == "tw"  # the intent, recorded before the call
    async with hub.sessionmaker() as session:
        call = (await session.execute(select(DeliveryAttempt))).scalar_one()
    assert rows["sms"].send_started_at <= call.started_at


async def test_an_sms_stays_unknown_while_the_list_is_down_then_is_found(tmp_path, providers,
                                                                          db_url):
    running = await start_hub(sms_settings(tmp_path, providers, db_url))
    hub = running.hub
    try:
        providers.twilio.fail_after_accept_next(1, 503)
        providers.twilio.fail_reads(503)  # and the message list cannot answer
        await hub.inbox.submit(events(1, "R-list"), utcnow())

        async def asked_three_times() -> bool:
            row = (await notifications(hub)).get("sms")
            return row is not None and (await timeline_outcomes(hub, row.id)).count(
                "unknown") >= 3
        await wait_for(asked_three_times, timeout=20)
        assert (await notifications(hub))["sms"].status == "unknown"
        providers.twilio.reset_faults()  # the list answers again

        async def settled() -> bool:
            return (await notifications(hub))["sms"].status != "unknown"
        await wait_for(settled, timeout=15)
    finally:
        providers.twilio.reset_faults()
        await stop_hub(running)
    rows = await notifications(hub)
    assert rows["sms"].status == "sent" and "portal" not in rows
    assert [message_id_of(r) for r in providers.twilio.records] == [rows["sms"].id]


async def test_a_call_whose_intent_cannot_be_recorded_never_starts(tmp_path, providers, db_url):
    """The intent is written only for a row this worker still leases: another worker took the
    row over, so this one must not call Twilio (no intent, no call)."""
    async with started_hub(sms_settings(tmp_path, providers, db_url)) as hub:
        claims_only(hub)
        await hub.inbox.submit(events(2, "R-lease"), utcnow())
        await hub.processor.drain()
        mine, taken = await hub.dispatcher.claim(10)
        async with hub.sessionmaker() as session, session.begin():
            await session.execute(update(Notification).where(
                Notification.id == taken.notification.id).values(lease_owner="other-node"))
        router, announce = hub.dispatcher.router, hub.dispatcher.intents.record
        kept = await router.deliver(hub.composer.compose(mine), announce=announce)
        lost = await router.deliver(hub.composer.compose(taken), announce=announce)
        rows = {n.id: n for n in (await notifications_list(hub))}
    assert kept.status == "sent" and lost.status == "retry" and not lost.attempts
    assert "taken over before the send started" in lost.error and lost.lease_lost
    assert [message_id_of(r) for r in providers.twilio.records] == [mine.notification.id]
    assert rows[mine.notification.id].send_provider == "tw"
    assert rows[taken.notification.id].send_started_at is None


async def test_calls_made_before_a_refused_intent_stay_in_the_attempt_log(tmp_path, providers,
                                                                         db_url):
    """SendGrid answers 500, and before the delivery's intent for Mandrill another worker takes
    the row over: Mandrill is not called, no outcome is written (the row is that worker's),
    and SendGrid's 500 is still in the attempt log, where the dashboard and the failover's
    history look for it."""
    settings = provider_settings(tmp_path, providers, free_port(), db_url=db_url)
    async with started_hub(settings) as hub:
        claims_only(hub)
        await hub.inbox.submit(events(1, "R-refused"), utcnow())
        await hub.processor.drain()
        recorder = hub.dispatcher.intents
        make_announcer = recorder.announcer

        def announcer(seen):
            announce = make_announcer(seen)

            async def taken_before_the_second(notification_id, provider):
                if provider == "md":  # after SendGrid's 500, before Mandrill's call
                    async with hub.sessionmaker() as session, session.begin():
                        await session.execute(update(Notification).where(
                            Notification.id == notification_id).values(
                                lease_owner="other-node"))
                return await announce(notification_id, provider)
            return taken_before_the_second

        recorder.announcer = announcer
        providers.sendgrid.fail_next(1, status=500)
        await hub.dispatcher.drain()
        logged = await attempts(hub)
        row = (await notifications_list(hub))[0]
    print(f"\nattempts logged {logged}; row {row.status}, leased to {row.lease_owner}")
    assert logged == [("sg", "transient")]
    assert providers.mandrill.records == [] and providers.sendgrid.records == []
    assert row.lease_owner == "other-node" and row.status == "sending"


async def notifications_list(hub) -> list[Notification]:
    async with hub.sessionmaker() as session:
        return list((await session.execute(select(Notification))).scalars())


def test_reconcile_backoff_doubles_within_its_bounds_and_ends_at_the_window():
    """Each wait is about the time already waited, jittered down to half, never below the
    channel's reconcile_seconds nor above worker.retry_max_seconds, nor past the window."""
    from types import SimpleNamespace

    from hub.delivery.reconcile import Reconciler

    route = SimpleNamespace(reconcile_seconds=10.0)
    reconciler = Reconciler(router=None, settings=SimpleNamespace(retry_max_seconds=300.0))
    for waited, low, high in [(0, 10, 10), (5, 10, 10), (40, 20, 40), (100, 50, 100),
                              (10_000, 150, 300)]:
        delays = [reconciler.backoff(route, waited, left=10**6) for _ in range(200)]
        assert low <= min(delays) and max(delays) <= high, (waited, min(delays), max(delays))
    assert reconciler.backoff(route, 10_000, left=3.5) == 3.5  # the last try: the window's end


async def test_a_worker_killed_between_its_intent_and_the_call_leaves_an_sms_sent_once(
        tmp_path, providers, db_url):
    """The state such a kill leaves (``sending``, an intent, the lease run out, nothing at
    Twilio): the SMS waits for a receipt, Twilio's list says it never came, it is sent once."""
    async with started_hub(sms_settings(tmp_path, providers, db_url)) as hub:
        await hub.inbox.submit(events(1, "R-intent"), utcnow())
        await hub.processor.drain()
        now = utcnow()
        async with hub.sessionmaker() as session, session.begin():
            await session.execute(update(Notification).values(
                status="sending", lease_owner="killed-node", lease_until=now,
                send_started_at=now, send_provider="tw"))

        async def sent() -> bool:
            await hub.dispatcher.drain()
            return (await notifications(hub))["sms"].status == "sent"
        await wait_for(sent, timeout=15)
        row = (await notifications(hub))["sms"]
        outcomes = await timeline_outcomes(hub, row.id)
    assert [message_id_of(r) for r in providers.twilio.records] == [row.id]
    assert outcomes[-2:] == ["unknown", "sent"]  # reconciled first, then sent
