"""Delivery policies on the file sink: expiry, quiet hours, coalescing, provider rate limits,
and a property test of the retry schedule."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from hub.config import QuietHours, WorkerSettings
from hub.delivery.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from hub.delivery.ratelimit import TokenBucket
from hub.delivery.router import AttemptRecord, Router, RouteResult
from hub.domain.outcome import RetryPolicy, next_values
from hub.domain.retry import backoff_delay
from hub.domain.timing import after_quiet_hours
from hub.errors import RateLimited
from hub.events import ReturnEvent
from hub.runtime import Hub
from hub.store.engine import utcnow
from hub.store.models import Notification
from hub.testing.factories import customer, event_payload
from tests.conftest import claims_only, make_settings


def event(return_id: str, event_type: str = "return.approved", **extra) -> ReturnEvent:
    return ReturnEvent.model_validate({**event_payload(event_type, return_id, **extra),
                                       "source": "shop",
                                       "source_event_id": f"{return_id}-{event_type}"})


async def started(tmp_path: Path, **overrides) -> Hub:
    hub = Hub.build(make_settings(tmp_path, **overrides))
    await hub.start(workers=False)
    hub.build_workers()
    await hub.dispatcher.start()
    return hub


async def notifications(hub: Hub) -> list[Notification]:
    async with hub.sessionmaker() as session:
        return list((await session.execute(select(Notification).order_by(
            Notification.created_at))).scalars())


async def test_expired_messages_are_never_sent(tmp_path):
    hub = await started(tmp_path, notifications={"stages": {
        "label_created": {"channels": ["sms"], "expires_after_seconds": 60}}})
    try:
        old = utcnow() - timedelta(hours=2)  # the event reached the hub two hours ago
        await hub.inbox.submit([event("R-exp", "return.label_created")], old)
        await hub.drain()
    finally:
        await hub.stop()
    [row] = await notifications(hub)
    assert row.status == "expired"
    assert not list((tmp_path / "outbox").glob("*"))


def test_quiet_hours_hold_until_morning_in_the_customers_zone():
    quiet = QuietHours(start="21:00", end="08:00")
    late = datetime(2026, 11, 24, 22, 30, tzinfo=UTC)  # 23:30 in Berlin
    released = after_quiet_hours(late, quiet, "Europe/Berlin", "UTC")
    assert released == datetime(2026, 11, 25, 7, 0, tzinfo=UTC)  # 08:00 Berlin
    noon = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    assert after_quiet_hours(noon, quiet, "Europe/Berlin", "UTC") == noon
    early = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)  # 00:00 in New York... 05:00 UTC
    assert after_quiet_hours(early, quiet, "America/New_York", "UTC") == \
        datetime(2026, 11, 24, 13, 0, tzinfo=UTC)


def test_quiet_hours_in_the_hour_repeated_when_clocks_go_back():
    # Found from outside: planned at the second 01:10 (EST) of 1 November 2026 in New York,
    # with quiet hours ending at 01:30, a message was released at 01:30 EDT, already past,
    # and sent at once, 20 minutes inside quiet hours.
    quiet = QuietHours(start="21:00", end="01:30")
    second = datetime(2026, 11, 1, 6, 10, tzinfo=UTC)  # 01:10 EST
    assert after_quiet_hours(second, quiet, "America/New_York", "UTC") == \
        datetime(2026, 11, 1, 6, 30, tzinfo=UTC)  # 01:30 EST
    first = datetime(2026, 11, 1, 5, 10, tzinfo=UTC)  # 01:10 EDT
    assert after_quiet_hours(first, quiet, "America/New_York", "UTC") == \
        datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT


@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31),
                    timezones=st.just(UTC)),
       st.sampled_from(["America/New_York", "Europe/Berlin", "Australia/Sydney"]),
       st.sampled_from([("21:00", "08:00"), ("21:00", "01:30"), ("00:30", "03:00")]))
def test_a_released_message_is_never_released_before_it_was_planned(when, zone, hours):
    released = after_quiet_hours(when, QuietHours(start=hours[0], end=hours[1]), zone, "UTC")
    assert when <= released <= when + timedelta(hours=25)


async def test_quiet_hours_apply_to_non_urgent_stages_only(tmp_path):
    hub = await started(tmp_path, notifications={
        "quiet_hours": {"start": "00:00", "end": "23:59"},
        "stages": {"approved": {"channels": ["email"]},
                   "refunded": {"channels": ["email"], "urgent": True}}})
    try:
        await hub.inbox.submit([event("R-q1", "return.approved"),
                                event("R-q2", "return.refunded")], utcnow())
        await hub.drain()
    finally:
        await hub.stop()
    rows = {n.stage: n for n in await notifications(hub)}
    assert rows["approved"].status == "pending"
    assert rows["approved"].next_attempt_at > utcnow() + timedelta(minutes=1)
    assert rows["refunded"].status == "sent"


async def test_coalescing_sends_only_the_latest_stage(tmp_path):
    hub = await started(tmp_path, notifications={
        "coalesce_seconds": 0.3,
        "stages": {"approved": {"channels": ["email"]},
                   "label_created": {"channels": ["email"]}}})
    try:
        same = customer(7)
        await hub.inbox.submit([event("R-co", "return.approved", minutes=1, customer=same)],
                               utcnow())
        await hub.processor.drain()
        await hub.inbox.submit([event("R-co", "return.label_created", minutes=2,
                                      customer=same)], utcnow())
        await hub.processor.drain()
        time.sleep(0.35)
        await hub.dispatcher.drain()
    finally:
        await hub.stop()
    rows = {n.stage: n for n in await notifications(hub)}
    assert rows["approved"].status == "superseded"
    assert rows["label_created"].status == "sent"
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1


async def test_provider_rate_limit_paces_a_backlog():
    bucket = TokenBucket(rate=20, burst=1)
    start = time.monotonic()
    for _ in range(21):
        await bucket.acquire()
    assert time.monotonic() - start >= 0.95


def test_a_rate_limited_probe_lets_the_next_probe_through():
    """A half-open probe answered 429 is neither a success nor a failure, but it is over: the
    breaker must not stay "probing" (refusing the provider) for the life of the process."""
    now = [0.0]
    breaker = CircuitBreaker("sg", threshold=1, cooldown=1, clock=lambda: now[0])
    router = Router({}, {}, timeout=1, public_url="", breakers={"sg": breaker})
    breaker.record_failure("503")
    now[0] = 2.0
    assert breaker.state == HALF_OPEN and breaker.allow()
    router._observe("sg", RateLimited("busy", provider="sg", retry_after=1))
    now[0] = 100.0
    assert breaker.allow()


def test_breaker_opens_probes_and_closes():
    now = [0.0]
    changes = []
    breaker = CircuitBreaker("p", threshold=3, cooldown=10, clock=lambda: now[0],
                             on_change=lambda b: changes.append(b.state))
    for _ in range(2):
        breaker.record_failure("500")
    assert breaker.state == CLOSED and breaker.allow()
    breaker.record_failure("500")
    assert breaker.state == OPEN and not breaker.allow()
    breaker.record_failure("late 500 from before it opened")
    now[0] = 10
    assert breaker.state == HALF_OPEN
    assert breaker.allow() and not breaker.allow()  # one probe at a time
    breaker.record_failure("probe failed")
    assert breaker.state == OPEN
    now[0] = 20
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == CLOSED
    assert changes == [OPEN, OPEN, CLOSED]
    breaker.record_failure("bad key", force_open=True)
    assert breaker.state == OPEN


WORKER = WorkerSettings(max_attempts=6, retry_base_seconds=2, retry_max_seconds=60)


@settings(max_examples=300, deadline=None)
@given(outcomes=st.lists(st.sampled_from(["retry", "retry_after", "sent", "failed", "unknown"]),
                         min_size=1, max_size=12),
       expires_in=st.one_of(st.none(), st.floats(min_value=1, max_value=600)),
       retry_after=st.floats(min_value=0, max_value=120))
def test_retry_schedule_properties(outcomes, expires_in, retry_after):
    """Over any failure sequence: attempts never exceed the cap, delays stay within the
    backoff bounds (Retry-After as a floor), and nothing is scheduled after its expiry."""
    policy = RetryPolicy(max_attempts=WORKER.max_attempts,
                         base_seconds=WORKER.retry_base_seconds,
                         cap_seconds=WORKER.retry_max_seconds)
    now = datetime(2026, 11, 24, tzinfo=UTC)
    state = SimpleNamespace(attempts=0, provider=None, provider_message_id=None,
                            tried_providers=[], channel="email", status="pending",
                            expires_at=now + timedelta(seconds=expires_in) if expires_in else None)
    for kind in outcomes:
        if state.status != "pending":
            break
        record = AttemptRecord("p", "transient", now, 1.0)
        result = RouteResult(status="retry" if kind.startswith("retry") else kind,
                             attempts=[record],
                             retry_after=retry_after if kind == "retry_after" else None)
        values = next_values(state, result, now, policy=policy)
        assert values["attempts"] <= WORKER.max_attempts
        state.attempts, state.status = values["attempts"], values["status"]
        if values["status"] == "pending":
            delay = (values["next_attempt_at"] - now).total_seconds()
            bound = min(WORKER.retry_max_seconds,
                        WORKER.retry_base_seconds * 2 ** (values["attempts"] - 1))
            floor = retry_after if kind == "retry_after" else 0
            # timedelta keeps microseconds: allow that rounding on either side
            assert floor - 1e-6 <= delay <= max(bound, floor) + 1e-6
            if state.expires_at is not None:
                assert values["next_attempt_at"] <= state.expires_at
            now = values["next_attempt_at"]
    assert state.attempts <= WORKER.max_attempts


def test_backoff_is_bounded_and_jittered():
    delays = [backoff_delay(5, base=2, cap=30) for _ in range(200)]
    assert all(0 <= d <= 30 for d in delays) and len(set(delays)) > 150
    assert backoff_delay(1, base=2, cap=30, retry_after=45) == 45


async def test_stages_of_one_return_go_out_in_order(tmp_path):
    """A later stage waits while an earlier one on the same channel is unfinished."""
    hub = await started(tmp_path, notifications={"stages": {
        "approved": {"channels": ["email"]}, "label_created": {"channels": ["email"]}}})
    try:
        claims_only(hub)
        same = customer(11)
        await hub.inbox.submit([event("R-ord", "return.approved", minutes=1, customer=same),
                                event("R-ord", "return.label_created", minutes=2,
                                      customer=same)], utcnow())
        await hub.processor.drain()
        first = await hub.dispatcher.claim(10)
        assert [c.notification.stage for c in first] == ["approved"]
        assert await hub.dispatcher.claim(10) == []  # label_created waits for approved
    finally:
        await hub.stop()
