"""One process's writers take their turns in the order they asked (hub.store.write_turns),
and a turn is never lost: not by a writer cancelled in line, nor by one whose wait runs out
just as its turn comes (a connection closed outside its loop: tests/integration/
test_sqlite_driver.py)."""

from __future__ import annotations

import asyncio

import pytest

from hub.store.write_turns import WriteTurns

pytestmark = pytest.mark.asyncio

LIMIT = 30.0


async def _writer(turns: WriteTurns, name: str, log: list[str], hold: asyncio.Event) -> None:
    assert await turns.wait(LIMIT)
    log.append(name)
    await hold.wait()
    turns.done()


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_writers_take_their_turns_in_the_order_they_asked():
    turns, log, hold = WriteTurns(), [], asyncio.Event()
    tasks = []
    for name in "abcd":
        tasks.append(asyncio.create_task(_writer(turns, name, log, hold)))
        await _settle()
    assert log == ["a"]  # one at a time
    hold.set()
    await asyncio.gather(*tasks)
    assert log == ["a", "b", "c", "d"]
    assert await turns.wait(LIMIT)  # free again: the next writer goes at once


async def test_a_writer_cancelled_in_line_is_skipped():
    turns, log, hold = WriteTurns(), [], asyncio.Event()
    first = asyncio.create_task(_writer(turns, "first", log, hold))
    await _settle()
    gone = asyncio.create_task(_writer(turns, "gone", log, hold))
    last = asyncio.create_task(_writer(turns, "last", log, hold))
    await _settle()
    gone.cancel()
    await asyncio.gather(gone, return_exceptions=True)
    hold.set()
    await asyncio.gather(first, last)
    assert log == ["first", "last"]


async def test_a_turn_given_to_a_writer_as_it_is_cancelled_passes_on():
    turns = WriteTurns()
    assert await turns.wait(LIMIT)
    doomed = asyncio.create_task(turns.wait(LIMIT))
    await _settle()
    after = asyncio.create_task(turns.wait(LIMIT))
    await _settle()
    turns.done()  # the turn goes to ``doomed`` ...
    doomed.cancel()  # ... which is cancelled before it runs again
    await asyncio.gather(doomed, return_exceptions=True)
    assert await asyncio.wait_for(after, timeout=5) is True


async def test_a_wait_past_its_limit_goes_on_outside_the_line():
    turns = WriteTurns()
    assert await turns.wait(LIMIT)  # held, and never given back in time
    assert await turns.wait(0.01) is False
    waiting = asyncio.create_task(turns.wait(LIMIT))
    await _settle()
    turns.done()
    assert await asyncio.wait_for(waiting, timeout=5) is True  # the timed-out one left no gap
