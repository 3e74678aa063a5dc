"""Recovery work (an unknown outcome to reconcile, an accepted message past its receipt
deadline, a dead worker's expired lease) is claimed ahead of the pending backlog, within its
share of ``worker.concurrency``; pending messages keep the other slots. On SQLite and
PostgreSQL, in every claim style."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from hub.runtime import Hub
from hub.store.engine import utcnow
from tests.conftest import claims_only, make_settings, started_hub
from tests.delivery.test_claims_and_outcomes import event, rows, set_rows


@pytest.fixture
async def twelve(tmp_path: Path, db_url: str) -> AsyncIterator[Hub]:
    """Twelve returns' email notifications planned (one each, so no stage waits for another),
    nothing sent; 4 send slots, of which recovery work may hold 2."""
    async with started_hub(make_settings(
            tmp_path, db_url, worker={"concurrency": 4, "recovery_share": 0.5},
            notifications={"stages": {"approved": {"channels": ["email"]}}})) as hub:
        claims_only(hub)
        await hub.inbox.submit([event(f"R-{n}") for n in range(12)], utcnow())
        await hub.processor.drain()
        yield hub


async def make_recovery(hub: Hub, ids: list[str], kind: str, due_at) -> None:
    """Make ``ids`` recovery work of ``kind`` that came due at ``due_at``."""
    if kind == "unknown":  # a send whose outcome was unknown: its reconcile is due
        await set_rows(hub, ids, status="unknown", next_attempt_at=due_at,
                       send_started_at=due_at - timedelta(seconds=30), send_provider="outbox")
    elif kind == "sending":  # a dead worker's row, its send intent recorded
        await set_rows(hub, ids, status="sending", next_attempt_at=due_at,
                       lease_owner="crashed-node", lease_until=due_at,
                       send_started_at=due_at - timedelta(seconds=30), send_provider="outbox")
    else:  # accepted, no receipt by the deadline
        await set_rows(hub, ids, status="sent", next_attempt_at=due_at,
                       sent_at=due_at - timedelta(seconds=30), receipt_due_at=due_at,
                       provider="outbox", provider_message_id="pm-1")


@pytest.mark.parametrize("kind", ["unknown", "sending", "sent"])
async def test_recovery_work_due_now_is_claimed_ahead_of_an_earlier_backlog(
        twelve: Hub, claim_style: str, kind: str):
    hub, now = twelve, utcnow()
    *backlog, recovering = await rows(hub)
    for n, row in enumerate(backlog):  # eleven texts queued well before
        await set_rows(hub, [row.id], next_attempt_at=now - timedelta(minutes=10, seconds=-n))
    await make_recovery(hub, [recovering.id], kind, now - timedelta(seconds=1))
    claimed = await hub.dispatcher.claim(3)
    assert [(c.notification.id, c.prior_status) for c in claimed if c.prior_status != "pending"
            ] == [(recovering.id, kind)]
    # The other slots went to the backlog, oldest first; the claim lists rows by due time.
    assert [c.notification.id for c in claimed] == [backlog[0].id, backlog[1].id, recovering.id]


async def test_pending_messages_keep_their_slots_while_much_recovery_work_is_due(
        twelve: Hub, claim_style: str):
    """An outage left eight reconciles due, earlier than four pending messages: recovery gets
    its share (2 of 4 slots) ahead, pending messages the rest; with the share in flight, a
    claim takes pending messages first; slots nobody else wants go to recovery work."""
    hub, now = twelve, utcnow()
    everything = await rows(hub)
    unknown, pending = everything[:8], everything[8:]
    for n, row in enumerate(unknown):
        await make_recovery(hub, [row.id], "unknown", now - timedelta(minutes=5, seconds=-n))
    await set_rows(hub, [row.id for row in pending], next_attempt_at=now - timedelta(seconds=1))
    dispatcher = hub.dispatcher

    first = await dispatcher.claim(4)
    assert sorted(c.prior_status for c in first) == ["pending", "pending", "unknown", "unknown"]
    for item in first:  # as claim_and_start counts the sends it starts
        if item.prior_status != "pending":
            dispatcher.recovery.take()
    assert dispatcher.recovery.ahead(4) == 0

    second = await dispatcher.claim(2)  # the recovery share is in flight: pending first
    assert [c.prior_status for c in second] == ["pending", "pending"]
    third = await dispatcher.claim(4)  # nothing pending is due: spare slots go to recovery
    assert [c.prior_status for c in third] == ["unknown"] * 4
    taken = {c.notification.id for c in first + second + third}
    assert taken == {row.id for row in unknown[:6]} | {row.id for row in pending}


async def test_claim_and_start_counts_the_recovery_sends_in_flight(twelve: Hub):
    hub, now = twelve, utcnow()
    everything = await rows(hub)
    await make_recovery(hub, [row.id for row in everything[:3]], "unknown",
                        now - timedelta(minutes=5))
    dispatcher = hub.dispatcher
    assert await dispatcher.claim_and_start() == 4
    assert dispatcher.recovery.inflight == 2  # the file sink reconciles by sending again
    await hub.drain()
    assert dispatcher.recovery.inflight == 0
    assert {n.status for n in await rows(hub)} == {"sent"}
