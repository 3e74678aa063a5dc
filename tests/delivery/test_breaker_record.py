"""``provider_health.opened_at`` is when the outage began: a failed half-open probe re-opens
the breaker without moving it (alerts measure "open longer than N minutes" from it)."""

from __future__ import annotations

from hub.store.models import ProviderHealth


async def recorded(hub) -> ProviderHealth:
    await hub.health.flush()
    async with hub.sessionmaker() as session:
        return await session.get(ProviderHealth, "outbox")


async def test_a_failed_probe_keeps_the_outage_start(hub):
    clock = [1000.0]
    breaker = hub.health.breakers["outbox"]
    breaker.clock = lambda: clock[0]
    for _ in range(breaker.threshold):
        breaker.record_failure("down")
    first = await recorded(hub)
    assert first.state == "open" and first.opened_at is not None
    began = first.opened_at

    clock[0] += breaker.cooldown + 1
    assert breaker.allow()  # the half-open probe...
    breaker.record_failure("still down")  # ...fails: open again
    again = await recorded(hub)
    assert again.state == "open" and again.opened_at == began

    clock[0] += breaker.cooldown + 1
    assert breaker.allow()
    breaker.record_success()
    closed = await recorded(hub)
    assert closed.state == "closed" and closed.opened_at is None
    for _ in range(breaker.threshold):  # a new outage starts a new clock
        breaker.record_failure("down again")
    assert (await recorded(hub)).opened_at > began
