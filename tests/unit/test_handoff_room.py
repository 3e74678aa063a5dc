"""The stage that feeds a hand-off goes no faster than its worker (Handoff.room): it waits
while the queue is over half full, for as long as the worker is running and takes rows in
time, and otherwise goes on as before (its rows then written for the claims): at once while
the worker has taken nothing for long, or once it stops."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from hub.store.handoff import STALLED_AFTER, Handoff

pytestmark = pytest.mark.asyncio

NOW = datetime(2026, 12, 3, tzinfo=UTC)


def _queue(rows: int, *, running: bool = True) -> Handoff[int]:
    handoff: Handoff[int] = Handoff("me", lease_seconds=60, capacity=8, claim_interval=1)
    handoff.put([(NOW + handoff.lease, n) for n in range(rows)])
    if running:
        handoff.worker_started()
    return handoff


async def test_a_queue_at_most_half_full_has_room_at_once():
    assert await _queue(4).room(patience=30) == 4
    assert await _queue(0).room(patience=30) == 8


async def test_a_fuller_queue_has_room_once_the_worker_takes_rows():
    handoff = _queue(7)
    feeder = asyncio.create_task(handoff.room(patience=30))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not feeder.done()
    handoff.take(2, NOW)  # 5 left: still over half
    for _ in range(5):
        await asyncio.sleep(0)
    assert not feeder.done()
    handoff.take(1, NOW)  # 4 left
    assert await asyncio.wait_for(feeder, timeout=5) == 4


async def test_a_worker_that_does_not_make_room_in_time_is_not_waited_for_longer():
    handoff = _queue(8)
    assert await handoff.room(patience=0.01) is None
    assert not handoff._waiting  # nothing left behind to wake


async def test_a_queue_whose_worker_is_not_running_is_not_waited_for():
    assert await _queue(8, running=False).room(patience=30) is None


async def test_a_stopping_worker_that_empties_its_queue_wakes_the_feeder():
    handoff = _queue(8)
    feeder = asyncio.create_task(handoff.room(patience=30))
    for _ in range(5):
        await asyncio.sleep(0)
    assert len(handoff.take_all()) == 8
    assert await asyncio.wait_for(feeder, timeout=5) == 8


async def test_a_worker_that_took_nothing_for_long_is_not_waited_for_until_it_takes_again():
    handoff = _queue(8)
    patience = 0.01
    handoff.take(0, NOW)  # takes nothing: no sign of life
    await asyncio.sleep(STALLED_AFTER * patience)
    feeder = asyncio.create_task(handoff.room(patience=patience))
    await asyncio.sleep(0)
    assert feeder.done()  # not waited for at all
    assert feeder.result() is None
    handoff.take(1, NOW)  # it moves again (7 left, still over half)
    feeder = asyncio.create_task(handoff.room(patience=30))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not feeder.done()  # waited for again
    handoff.take(3, NOW)
    assert await asyncio.wait_for(feeder, timeout=5) == 4


async def test_a_worker_that_stops_releases_the_feeder_at_once():
    handoff = _queue(8)
    feeder = asyncio.create_task(handoff.room(patience=30))
    for _ in range(5):
        await asyncio.sleep(0)
    handoff.worker_stopped()
    assert await asyncio.wait_for(feeder, timeout=5) is None
