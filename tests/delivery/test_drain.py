"""``Hub.drain`` delivers every due stage, in order, even when a send finishes while the next
claim is running: that claim still saw the earlier stage in flight and held the later one back
(stages of a return go out in order), so an empty answer then does not mean the outbox is
drained. Seen on PostgreSQL as a return's last email left pending after ``drain``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.events import ReturnEvent
from hub.store.engine import utcnow
from hub.store.models import Notification
from hub.testing.factories import event_payload
from tests.conftest import make_settings, started_hub


def event(event_type: str, minutes: int) -> ReturnEvent:
    return ReturnEvent.model_validate({**event_payload(event_type, "R-drain", minutes=minutes),
                                       "source": "shop", "source_event_id": event_type})


async def test_a_stage_freed_while_a_claim_ran_is_still_sent(tmp_path: Path, db_url: str,
                                                              monkeypatch: pytest.MonkeyPatch):
    settings = make_settings(tmp_path, db_url, notifications={"stages": {
        "requested": {"channels": ["email"]}, "approved": {"channels": ["email"]}}})
    async with started_hub(settings) as hub:
        await hub.inbox.submit([event("return.requested", 1), event("return.approved", 2)],
                               utcnow())
        await hub.processor.drain()
        dispatcher, real_claim = hub.dispatcher, hub.dispatcher.claim

        async def slow_answer(limit: int):
            """The claim's answer comes back only after the sends in flight finished (a slow
            round trip on a busy database)."""
            batch = await real_claim(limit)
            if dispatcher._inflight:
                await asyncio.wait(set(dispatcher._inflight))
            return batch

        monkeypatch.setattr(dispatcher, "claim", slow_answer)
        await hub.drain()
        async with hub.sessionmaker() as session:
            statuses = dict((await session.execute(
                select(Notification.stage, Notification.status))).all())
    assert statuses == {"requested": "sent", "approved": "sent"}
