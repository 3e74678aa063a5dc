"""A provider answering 429 for a while costs no delivery attempts: the texts go out once it
accepts again (found from outside by an operator: Twilio throttling for ~10 s with
Retry-After 1 dead-lettered every text after its 8 attempts; Twilio received none)."""

from __future__ import annotations

from sqlalchemy import select

from hub.store.engine import utcnow
from hub.store.models import Notification
from tests.conftest import wait_for
from tests.delivery.conftest import free_port, provider_settings, start_hub, stop_hub
from tests.delivery.test_switching import events

TEXTS = 3
MAX_ATTEMPTS = 3


async def test_a_spell_of_429s_delays_texts_without_using_up_their_attempts(tmp_path, providers,
                                                                           db_url):
    settings = provider_settings(
        tmp_path, providers, free_port(), db_url=db_url,
        stages={"approved": {"channels": ["sms"]}},
        worker={"max_attempts": MAX_ATTEMPTS, "retry_base_seconds": 0.05,
                "retry_max_seconds": 0.1})
    # Twice the attempts every text has: before the fix they all ended dead.
    providers.twilio.rate_limit_next(2 * MAX_ATTEMPTS * TEXTS, retry_after=0.1)
    running = await start_hub(settings)
    try:
        await running.hub.inbox.submit(events(TEXTS, "R-429"), utcnow())

        async def final() -> list[Notification]:
            async with running.hub.sessionmaker() as session:
                rows = list((await session.execute(select(Notification))).scalars())
            done = len(rows) == TEXTS and all(r.status not in ("pending", "sending")
                                              for r in rows)
            return rows if done else []
        rows = await wait_for(final, timeout=60)
    finally:
        await stop_hub(running)
    assert providers.twilio.request_count >= 2 * MAX_ATTEMPTS * TEXTS  # the spell was served
    assert [r.status for r in rows] == ["sent"] * TEXTS
    assert all(r.attempts == 1 for r in rows)
    assert len(providers.twilio.records) == TEXTS
