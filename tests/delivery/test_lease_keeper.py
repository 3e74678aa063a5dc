"""A provider call slower than the lease keeps its lease (hub.delivery.lease_keeper): a second
worker polling the same database never takes the message over and sends it again, on SQLite
and PostgreSQL, through the real SendGrid SDK against the fake SendGrid answering late."""

from __future__ import annotations

from sqlalchemy import select

from hub.store.engine import utcnow
from hub.store.models import DeliveryAttempt, Notification
from tests.conftest import wait_for
from tests.delivery.conftest import free_port, message_id_of, provider_settings, start_hub, stop_hub
from tests.delivery.test_switching import events

LEASE = 1.0
ANSWER_AFTER = 2.5  # two and a half leases: the lease would run out twice during the call


def slow_provider_settings(tmp_path, providers, db_url):
    settings = provider_settings(
        tmp_path, providers, free_port(), db_url=db_url,
        worker={"lease_seconds": LEASE, "send_timeout_seconds": 4 * ANSWER_AFTER})
    settings.channels["email"].reconcile_seconds = 3600  # an unknown outcome would wait here
    return settings


async def test_a_call_slower_than_its_lease_is_not_taken_over(tmp_path, providers, db_url):
    first = await start_hub(slow_provider_settings(tmp_path / "a", providers, db_url))
    second = None
    try:
        settings = slow_provider_settings(tmp_path / "b", providers, db_url)
        settings.security.pii_keys = first.hub.settings.security.pii_keys
        # The second hub shares the database: its workers poll it every 20 ms.
        second = await start_hub(settings)
        providers.sendgrid.set_latency(ANSWER_AFTER)
        await first.hub.inbox.submit(events(1, "R-slow"), utcnow())

        async def settled() -> list[Notification]:
            async with first.hub.sessionmaker() as session:
                rows = list((await session.execute(select(Notification))).scalars())
            return rows if rows and rows[0].status == "sent" else []
        (row,) = await wait_for(settled, timeout=30)
        await wait_for(lambda: not second.hub.dispatcher._inflight, timeout=30)
    finally:
        providers.sendgrid.set_latency(0)
        if second is not None:
            await stop_hub(second)
        await stop_hub(first)
    async with first.hub.sessionmaker() as session:
        calls = list((await session.execute(
            select(DeliveryAttempt.provider, DeliveryAttempt.outcome))).all())
    print(f"calls {providers.sendgrid.request_count}, records {len(providers.sendgrid.records)}")
    assert providers.sendgrid.request_count == 1  # the second worker never called SendGrid
    assert [message_id_of(r) for r in providers.sendgrid.records] == [row.id]
    assert [tuple(c) for c in calls] == [("sg", "accepted")]
    assert row.lease_owner is None and row.attempts == 1
