"""The takeover gate: closed for a lease after each failure to reach the database, open
otherwise (hub.delivery.takeover)."""

from __future__ import annotations

from hub.delivery.takeover import TakeoverGate


def test_open_until_the_database_fails_then_closed_for_a_lease_after_the_last_failure():
    clock = [50.0]
    gate = TakeoverGate(3.0, clock=lambda: clock[0])
    assert gate.open  # a worker that never saw the database fail takes over as before
    gate.database_failed()
    assert not gate.open
    clock[0] += 2.0
    gate.database_failed()  # still away: the lease counts from this failure
    clock[0] += 2.9
    assert not gate.open
    clock[0] += 0.1
    assert gate.open
