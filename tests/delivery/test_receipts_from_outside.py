"""What providers' status webhooks really do, found by trying the hub as a provider would
(docs/reliability.md, "Found from outside, third round"): a deferral while a receipt deadline
runs, a receipt that settles a send whose outcome was never known, receipts about an erased
customer, and fallbacks that must respect quiet hours, a return that has moved on, and the
later stages waiting in their coalescing window. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from hub.config_notifications import QuietHours
from hub.events import ReturnEvent
from hub.store.engine import utcnow
from hub.store.models import Customer, DeliveryReceipt, Notification, TimelineEntry
from hub.testing.factories import event_payload
from hub.web.admin.gdpr import erase_customer
from tests.conftest import wait_for
from tests.delivery.conftest import free_port, provider_settings, start_hub, stop_hub


def event(kind: str, reference: str, n: int = 0) -> ReturnEvent:
    return ReturnEvent.model_validate({
        **event_payload(kind, reference), "source": "shop",
        "source_event_id": f"{reference}-{kind}-{n}"})


async def rows(hub) -> list[Notification]:
    async with hub.sessionmaker() as session:
        return list((await session.execute(
            select(Notification).order_by(Notification.created_at))).scalars())


async def first_is(hub, status: str) -> bool:
    """Whether the first notification planned is in ``status`` (for ``wait_for``)."""
    found = await rows(hub)
    return bool(found) and found[0].status == status


async def test_a_deferral_lifts_the_receipt_deadline_and_sends_no_second_copy(
        tmp_path, providers, db_url):
    # Greylisting: SendGrid defers the first try and delivers minutes later. The deadline
    # for a receipt failed the message over meanwhile, and both providers delivered a copy.
    settings = provider_settings(tmp_path, providers, free_port(), db_url=db_url,
                                 email={"receipt_deadline_seconds": 1})
    running = await start_hub(settings)
    hub = running.hub
    try:
        await hub.inbox.submit([event("return.approved", "R-defer")], utcnow())
        await wait_for(lambda: len(providers.sendgrid.records) == 1, timeout=20)
        record = providers.sendgrid.records[0]
        url = f"{running.url}/webhooks/sg"

        await wait_for(lambda: first_is(hub, "sent"), timeout=20)
        assert await providers.sendgrid.send_status(url, record, "processed") == 200
        assert (await rows(hub))[0].receipt_due_at is not None  # "processed" is no verdict
        assert await providers.sendgrid.send_status(url, record, "deferred",
                                                    response="451 4.7.1 greylisted") == 200

        async def lifted() -> bool:
            return (await rows(hub))[0].receipt_due_at is None
        await wait_for(lifted, timeout=10)
        # Past the old deadline, with the dispatcher polling every 20 ms: no failover.
        await asyncio.sleep(1.5)
        assert await providers.sendgrid.send_status(url, record, "delivered") == 200

        await wait_for(lambda: first_is(hub, "delivered"), timeout=10)
        email = (await rows(hub))[0]
    finally:
        await stop_hub(running)
    print(f"\nsendgrid copies {len(providers.sendgrid.records)}, mandrill copies "
          f"{len(providers.mandrill.records)}")
    assert providers.mandrill.records == [] and len(providers.sendgrid.records) == 1
    assert (email.status, email.provider) == ("delivered", "sg")


async def test_a_receipt_settles_a_send_whose_outcome_was_never_known(
        tmp_path, providers, db_url):
    # Twilio took the text and the answer was lost (a 503 after acceptance): the row was
    # "unknown". Twilio's own "delivered" settled its status but left it without a send
    # time, a provider message id or a clean error, so the dashboard and replies missed it.
    settings = provider_settings(
        tmp_path, providers, free_port(), db_url=db_url,
        stages={"approved": {"channels": ["sms"]}}, worker={"send_timeout_seconds": 2})
    settings.channels["sms"].reconcile_seconds = 60  # the receipt comes first
    running = await start_hub(settings)
    hub = running.hub
    try:
        providers.twilio.fail_after_accept_next(1, status=503)
        await hub.inbox.submit([event("return.approved", "R-unknown")], utcnow())

        await wait_for(lambda: first_is(hub, "unknown"), timeout=20)
        assert len(providers.twilio.records) == 1
        assert await providers.twilio.send_status(None, providers.twilio.records[0],
                                                  "delivered") == 200

        await wait_for(lambda: first_is(hub, "delivered"), timeout=10)
        sms = (await rows(hub))[0]
    finally:
        await stop_hub(running)
    assert sms.sent_at is not None and sms.delivered_at is not None
    assert sms.provider == "tw"
    assert sms.provider_message_id == providers.twilio.records[0]["resource"]["sid"]
    assert sms.last_error is None
    assert len(providers.twilio.records) == 1


async def test_receipts_after_an_erasure_keep_nothing_of_the_customer(
        tmp_path, providers, db_url):
    settings = provider_settings(tmp_path, providers, free_port(), db_url=db_url)
    running = await start_hub(settings)
    hub = running.hub
    try:
        await hub.inbox.submit([event("return.approved", "R-erase")], utcnow())
        await wait_for(lambda: len(providers.sendgrid.records) == 1, timeout=20)
        record = providers.sendgrid.records[0]
        url = f"{running.url}/webhooks/sg"
        assert await providers.sendgrid.send_status(url, record, "delivered") == 200
        async with hub.sessionmaker() as session, session.begin():
            customer = (await session.execute(select(Customer))).scalar_one()
            assert await erase_customer(session, hub, customer) == 1
        # The provider goes on reporting: an open, with the address in its event.
        assert await providers.sendgrid.send_status(url, record, "open") == 200
        async with hub.sessionmaker() as session:
            receipts = list((await session.execute(select(DeliveryReceipt))).scalars())
            email = (await session.execute(select(Notification))).scalar_one()
    finally:
        await stop_hub(running)
    assert sorted(r.status for r in receipts) == ["delivered", "opened"]
    assert [r.raw_enc for r in receipts] == [None, None]
    assert email.recipient_enc is None and email.recipient_hash is None


async def test_fallbacks_wait_out_quiet_hours_and_skip_a_return_that_moved_on(
        tmp_path, providers, db_url):
    settings = provider_settings(
        tmp_path, providers, free_port(), db_url=db_url,
        stages={"received": {"channels": ["email"], "fallback": ["sms"]},
                "refunded": {"channels": ["email"], "fallback": ["sms"]}},
        notifications={"default_timezone": "UTC"})
    running = await start_hub(settings)
    hub = running.hub
    url = f"{running.url}/webhooks/sg"
    try:
        await hub.inbox.submit([event("return.approved", "R-on"),
                                event("return.received", "R-on", 1)], utcnow())
        await wait_for(lambda: len(providers.sendgrid.records) == 1, timeout=20)
        received_mail = providers.sendgrid.records[0]
        await hub.inbox.submit([event("return.refunded", "R-on", 2)], utcnow())
        await wait_for(lambda: len(providers.sendgrid.records) == 2, timeout=20)
        refunded_mail = providers.sendgrid.records[1]
        # The customer's night begins (quiet from a minute ago for ten hours, in UTC); then
        # both emails bounce.
        now = utcnow()
        hub.planner.settings.quiet_hours = QuietHours(
            start=(now - timedelta(minutes=1)).strftime("%H:%M"),
            end=(now + timedelta(hours=10)).strftime("%H:%M"))
        for mail in (received_mail, refunded_mail):
            assert await providers.sendgrid.send_status(url, mail, "bounce",
                                                        reason="550 no such user") == 200

        async def both_bounced() -> bool:
            return sorted(n.status for n in await rows(hub) if n.channel == "email") == [
                "bounced", "bounced"]
        await wait_for(both_bounced, timeout=10)
        found = await rows(hub)
        async with hub.sessionmaker() as session:
            skipped = list((await session.execute(select(TimelineEntry).where(
                TimelineEntry.outcome == "fallback_skipped"))).scalars())
    finally:
        await stop_hub(running)
    texts = [n for n in found if n.channel == "sms"]
    # "received" is old news once the return is refunded: no text for it.
    assert [n.stage for n in texts] == ["refunded"]
    assert [s.detail["reason"] for s in skipped] == ["the return has moved on to refunded"]
    # The refund's text waits for the end of the customer's quiet hours.
    assert texts[0].status == "pending"
    assert texts[0].next_attempt_at >= utcnow() + timedelta(hours=9)
    assert providers.twilio.records == []


async def test_a_fallback_supersedes_no_later_stage(tmp_path, providers, db_url):
    # With coalescing on, the "requested" email bounced while the "approved" text waited in
    # its window: the fallback text planned for "requested" superseded the approval's text.
    # The return has moved on, so no fallback is planned now; and were one planned (a stage
    # that is no state of the return), it still replaces nothing.
    settings = provider_settings(
        tmp_path, providers, free_port(), db_url=db_url,
        stages={"shipment_exception": {"channels": ["email"], "fallback": ["sms"],
                                       "urgent": True},
                "in_transit": {"channels": ["sms"]}},
        notifications={"coalesce_seconds": 3})
    running = await start_hub(settings)
    hub = running.hub
    url = f"{running.url}/webhooks/sg"
    try:
        await hub.inbox.submit([event("return.approved", "R-co"),
                                event("return.shipment_exception", "R-co", 1)], utcnow())
        await wait_for(lambda: len(providers.sendgrid.records) == 1, timeout=20)
        await hub.inbox.submit([event("return.in_transit", "R-co", 2)], utcnow())

        async def planned() -> bool:
            return any(n.stage == "in_transit" for n in await rows(hub))
        await wait_for(planned, timeout=10)
        assert await providers.sendgrid.send_status(
            url, providers.sendgrid.records[0], "bounce", reason="550 no such user") == 200

        async def texts_settled() -> bool:
            return [n.status for n in await rows(hub) if n.channel == "sms"] == ["sent"] * 2
        await wait_for(texts_settled, timeout=20)
        found = await rows(hub)
    finally:
        await stop_hub(running)
    texts = sorted((n.stage, n.status) for n in found if n.channel == "sms")
    assert texts == [("in_transit", "sent"), ("shipment_exception", "sent")]


async def test_an_unknown_text_whose_sink_was_renamed_waits_and_is_looked_up_once_it_is_back(
        tmp_path, providers, db_url):
    # Found from outside: after kill -9 with texts in flight and a restart with the Twilio
    # sink renamed, the texts were failed at once ("no provider of the channel can be asked")
    # and never sent. Now they wait within the reconcile window, saying why, and a restart
    # with the name back looks them up in Twilio.
    base = provider_settings(tmp_path, providers, free_port(), db_url=db_url,
                             stages={"approved": {"channels": ["sms"]}})

    def settings_with(sink_name: str):
        settings = base.model_copy(deep=True)  # the same keys: only the sink's name changes
        settings.sinks[sink_name] = settings.sinks.pop("tw")
        settings.channels["sms"].providers = [sink_name]
        settings.channels["sms"].reconcile_seconds = 0.2
        settings.channels["sms"].reconcile_window_seconds = 600
        return settings

    running = await start_hub(settings_with("tw"))
    try:
        providers.twilio.fail_after_accept_next(1, status=503)  # takes it; the answer is lost
        await running.hub.inbox.submit([event("return.approved", "R-renamed")], utcnow())

        await wait_for(lambda: first_is(running.hub, "unknown"), timeout=20)
    finally:
        await stop_hub(running)
    assert len(providers.twilio.records) == 1

    running = await start_hub(settings_with("twilio"))  # renamed
    try:
        async def says_why() -> bool:
            found = await rows(running.hub)
            return "sink 'tw', which took it, is not configured any more" in (
                found[0].last_error or "")
        await wait_for(says_why, timeout=20)
        # Waiting, asked again every 0.2 s (claimed as "sending" meanwhile), never failed.
        assert (await rows(running.hub))[0].status in ("unknown", "sending")
    finally:
        await stop_hub(running)

    renamed = settings_with("twilio")  # renamed, saying what it was called
    renamed.sinks["twilio"]["formerly"] = ["tw"]
    running = await start_hub(renamed)
    try:
        await wait_for(lambda: first_is(running.hub, "sent"), timeout=20)
    finally:
        await stop_hub(running)
    assert len(providers.twilio.records) == 1  # looked up through the renamed sink, not resent


async def test_a_renamed_sink_that_says_its_former_name_keeps_its_messages(
        tmp_path, providers, db_url):
    # Found from outside: [sinks.sg] renamed [sinks.sendgrid] (the same account) with emails
    # sent: their bounces were ignored (no text), and a receipt-deadline failover sent them
    # again through the same account. With `formerly = ["sg"]` the messages stay its own.
    base = provider_settings(tmp_path, providers, free_port(), db_url=db_url,
                             email={"receipt_deadline_seconds": 4})
    running = await start_hub(base)
    try:
        await running.hub.inbox.submit([event("return.approved", "R-alias-1"),
                                        event("return.approved", "R-alias-2")], utcnow())
        await wait_for(lambda: len(providers.sendgrid.records) == 2, timeout=20)

        async def both_sent() -> bool:
            return [n.status for n in await rows(running.hub)] == ["sent", "sent"]
        await wait_for(both_sent, timeout=20)
    finally:
        await stop_hub(running)
    renamed = base.model_copy(deep=True)
    renamed.sinks["sendgrid"] = {**renamed.sinks.pop("sg"), "formerly": ["sg"]}
    renamed.channels["email"].providers = ["sendgrid", "md"]
    running = await start_hub(renamed)
    hub = running.hub
    try:
        first = providers.sendgrid.records[0]
        # The provider still posts to the URL it was set up with.
        assert await providers.sendgrid.send_status(
            f"{running.url}/webhooks/sg", first, "bounce", reason="550 no such user") == 200

        async def fell_back() -> bool:
            return any(n.channel == "sms" and n.status == "sent" for n in await rows(hub))
        await wait_for(fell_back, timeout=20)
        # The other one gets no receipt: its deadline fails it over to Mandrill, counting
        # the renamed SendGrid sink as already tried.
        await wait_for(lambda: len(providers.mandrill.records) == 1, timeout=20)

        async def settled() -> bool:  # Mandrill's answer written, not only received
            return sorted(n.status for n in await rows(hub) if n.channel == "email") \
                == ["bounced", "sent"]
        await wait_for(settled, timeout=20)
        found = {n.id: n for n in await rows(hub)}
    finally:
        await stop_hub(running)
    emails = [n for n in found.values() if n.channel == "email"]
    assert len(providers.sendgrid.records) == 2  # no second copy through the same account
    assert [n.provider for n in emails if n.status == "sent"] == ["md"]
