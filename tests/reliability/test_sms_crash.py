"""A worker process SIGKILLed while it holds SMS, on SQLite and PostgreSQL, with the fake
Twilio as its own process (issue 13): a claimed SMS whose provider call had not started is
simply sent once; one whose call had started (its send intent was recorded) is reconciled,
stays ``unknown`` while Twilio's message list cannot answer, and is found, never sent again,
once it does."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from hub.events import ReturnEvent
from hub.store.engine import utcnow
from hub.store.models import Notification, TimelineEntry
from hub.testing.factories import event_payload
from tests.conftest import wait_for
from tests.reliability.support import SmsRig, kill, message_counts


class Rig(SmsRig):
    """The SMS crash rig, with the faults of the fake Twilio and what the database holds."""

    def __init__(self, tmp_path: Path, db_url: str, *, rate: float | None,
                 window: float) -> None:
        super().__init__(tmp_path, db_url, worker="send_timeout_seconds = 30",
                         sink=f"rate_limit_per_second = {rate}" if rate else "",
                         channel=f"reconcile_window_seconds = {window}")

    async def plan(self, count: int) -> None:
        """Apply ``count`` approvals in this process: ``count`` SMS are planned, pending."""
        await self.start_hub()
        self.hub.build_workers()
        await self.hub.inbox.submit([ReturnEvent.model_validate({
            **event_payload("return.approved", f"R-crash-{n}"), "source": "shop",
            "source_event_id": f"crash-{n}"}) for n in range(count)], utcnow())
        await self.hub.processor.drain()

    async def faults(self, **wanted) -> None:
        async with aiohttp.ClientSession() as session, session.post(
                f"{self.fake_url}/__fake__/faults", json=wanted) as response:
            assert response.status == 200

    async def rows(self) -> list[Notification]:
        async with self.hub.sessionmaker() as session:
            return list((await session.execute(select(Notification))).scalars())

    async def outcomes(self, notification_id: str) -> list[str]:
        async with self.hub.sessionmaker() as session:
            return list((await session.execute(select(TimelineEntry.outcome).where(
                TimelineEntry.notification_id == notification_id)
                .order_by(TimelineEntry.id))).scalars())


@pytest.mark.slow
async def test_claimed_sms_whose_call_had_not_started_are_sent_once(tmp_path, db_url):
    """Twilio paces the worker to one SMS a second, so most of its claimed batch waits for
    the rate limiter (no send intent) when it is killed; the message list is down throughout,
    so nothing could be reconciled: they must simply be sent, once."""
    rig = Rig(tmp_path, db_url, rate=1, window=3)
    try:
        await rig.faults(fail_reads=503)
        await rig.plan(6)
        first = rig.worker()

        async def two_sent() -> bool:
            return sum(n.status == "sent" for n in await rig.rows()) >= 2
        await wait_for(two_sent, timeout=30, interval=0.02)
        kill(first)  # the third call is due about a second after the second
        at_kill = await rig.rows()
        waiting = [n for n in at_kill if n.status == "sending" and n.send_started_at is None]
        assert len(waiting) >= 3  # claimed, no provider call started
        rig.worker()

        async def settled() -> bool:
            return all(n.status in ("sent", "failed") for n in await rig.rows())
        await wait_for(settled, timeout=60)
        rows = await rig.rows()
    finally:
        await rig.close()
    counts = message_counts(rig.record)
    print(f"\nsent before the kill: 2; claimed without an intent at the kill: {len(waiting)}; "
          f"accepted by Twilio: {sum(counts.values())}; statuses: "
          f"{sorted(n.status for n in rows)}")
    assert {n.status for n in rows} == {"sent"}
    assert counts == {n.id: 1 for n in rows}


@pytest.mark.slow
async def test_an_sms_whose_call_had_started_is_reconciled_not_resent(tmp_path, db_url):
    """Twilio takes the SMS and never answers; the worker is killed mid-call. The list is
    down: the SMS stays unknown and is asked about again; the list comes back: it is found."""
    rig = Rig(tmp_path, db_url, rate=None, window=120)
    try:
        await rig.faults(go_silent=1)
        await rig.plan(1)
        first = rig.worker()
        await wait_for(lambda: sum(message_counts(rig.record).values()) == 1, timeout=30)
        kill(first)
        (row,) = await rig.rows()
        assert row.status == "sending" and row.send_provider == "tw"
        assert row.send_started_at is not None  # committed before the call
        await rig.faults(reset=True, fail_reads=503)
        rig.worker()

        async def asked_again() -> bool:
            return (await rig.outcomes(row.id)).count("unknown") >= 3
        await wait_for(asked_again, timeout=60)
        # Still undecided: "unknown", or "sending" while a worker holds it for the next ask.
        assert [n.status for n in await rig.rows()] in (["unknown"], ["sending"])
        await rig.faults(reset=True)

        async def found() -> bool:
            return [n.status for n in await rig.rows()] not in (["unknown"], ["sending"])
        await wait_for(found, timeout=30)
        rows = await rig.rows()
        timeline = await rig.outcomes(row.id)
    finally:
        await rig.close()
    print(f"\ntimeline of the SMS: {timeline}; accepted by Twilio: "
          f"{sum(message_counts(rig.record).values())}")
    assert [n.status for n in rows] == ["sent"]
    assert message_counts(rig.record) == {row.id: 1}
