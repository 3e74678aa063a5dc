"""A hub stopped while it works gives back every lease it holds: after a restart nothing waits
for a lease to run out. Found from outside by an admin: after SIGTERM under load, rows stayed
``sending`` (4 to 72 per run) and inbox events ``pending`` with most of a 60 s lease left, and
were delivered only once it ran out: the loops were cancelled between a claim and its sends."""

from __future__ import annotations

from sqlalchemy import func, or_, select

from hub.runtime import Hub
from hub.store.engine import utcnow
from hub.store.models import InboxEvent, Notification
from tests.conftest import make_settings, wait_for
from tests.delivery.test_receipt_batches import _event


async def _live_leases(hub: Hub) -> tuple[int, int]:
    now = utcnow()
    async with hub.sessionmaker() as session:
        events = (await session.execute(select(func.count()).select_from(InboxEvent).where(
            InboxEvent.status == "pending", InboxEvent.lease_until > now))).scalar_one()
        notes = (await session.execute(select(func.count()).select_from(Notification).where(
            or_(Notification.status == "pending", Notification.status == "sending"),
            Notification.lease_until > now))).scalar_one()
    return events, notes


async def _sent(hub: Hub) -> int:
    async with hub.sessionmaker() as session:
        return (await session.execute(select(func.count()).select_from(Notification).where(
            Notification.status == "sent"))).scalar_one()


async def test_a_hub_stopped_under_load_leaves_no_lease_to_wait_out(tmp_path, db_url):
    for round_no in range(3):  # the cut falls somewhere else each time
        settings = make_settings(tmp_path, db_url, worker={
            "lease_seconds": 60, "idle_poll_seconds": 0.05, "batch_size": 20})
        hub = Hub.build(settings)
        await hub.start()
        try:
            for n in range(0, 300, 20):
                await hub.inbox.submit([_event(f"R-stop-{round_no}-{n + k}")
                                        for k in range(20)], utcnow())
            await wait_for(lambda h=hub: _sent(h), timeout=30)  # work is flowing
        finally:
            await hub.stop()
        assert await _live_leases(hub) == (0, 0), f"round {round_no}"
        await hub.engine.dispose()
