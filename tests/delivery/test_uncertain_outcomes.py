"""Outcomes that are not what they seem, against the fake providers through the real SDKs, on
SQLite and PostgreSQL: a destination the outbound guard refuses (nothing left: fail over at
once), a Twilio 5xx after Twilio took the message (one SMS, found by the reconcile), and a
message list that cannot answer (the SMS stays unknown and is asked about again)."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from hub.store.engine import utcnow
from hub.store.models import DeliveryAttempt, Notification
from tests.conftest import wait_for
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
