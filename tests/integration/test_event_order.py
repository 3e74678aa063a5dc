"""Shuffled and duplicated deliveries reach the same final state, and record the same events,
as the ordered run (a property test over permutations)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from hub.events import ReturnEvent
from hub.runtime import Hub
from hub.store.engine import utcnow
from hub.store.models import Notification, Return, TimelineEntry
from tests.conftest import make_settings

LIFE = ["return.requested", "return.approved", "return.label_created", "return.in_transit",
        "return.delivered_to_warehouse", "return.received", "return.refunded",
        "return.closed"]
START = datetime(2026, 11, 1, tzinfo=UTC)


def life_events() -> list[ReturnEvent]:
    return [ReturnEvent.model_validate({
        "type": kind, "return_id": "R-order", "source": "shop", "source_event_id": f"e{i}",
        "occurred_at": (START + timedelta(hours=i)).isoformat(),
        "customer": {"id": "C-1", "email": "order@example.com"},
        "tracking": {"number": "1Z-ORDER"} if kind == "return.label_created" else None})
        for i, kind in enumerate(LIFE)]


async def run(order: list[int], duplicates: list[int]) -> tuple[str, list, dict]:
    with TemporaryDirectory() as scratch:
        hub = Hub.build(make_settings(Path(scratch)))
        await hub.start(workers=False)
        hub.build_workers()
        try:
            events = life_events()
            for index in order + duplicates:
                # one delivery at a time, each applied before the next arrives
                await hub.inbox.submit([events[index]], utcnow())
                await hub.processor.drain()
            async with hub.sessionmaker() as session:
                state = (await session.execute(select(Return.state))).scalar_one()
                recorded = sorted({(t.event_type, t.occurred_at) for t in (await session.execute(
                    select(TimelineEntry).where(TimelineEntry.kind == "event"))).scalars()})
                planned = {}
                for n in (await session.execute(select(Notification))).scalars():
                    planned[n.stage] = planned.get(n.stage, 0) + 1
            return state, recorded, planned
        finally:
            await hub.stop()


ORDERED = None


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(order=st.permutations(list(range(len(LIFE)))),
       duplicates=st.lists(st.integers(0, len(LIFE) - 1), max_size=4))
def test_any_order_reaches_the_same_end(order, duplicates):
    global ORDERED
    if ORDERED is None:
        ORDERED = asyncio.run(run(list(range(len(LIFE))), []))
    state, recorded, planned = asyncio.run(run(list(order), duplicates))
    ordered_state, ordered_recorded, ordered_planned = ORDERED
    assert state == ordered_state == "closed"
    assert recorded == ordered_recorded  # every event is on the timeline, once
    # Late events notify nothing and nothing is notified twice.
    assert all(count == 1 for count in planned.values())
    assert set(planned) <= set(ordered_planned)
