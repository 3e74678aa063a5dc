"""The outcome decision (hub.domain.outcome): what a send result does to a notification, with
no database: retries and their backoff, giving up, expiry, failover, fallback, receipts that
came before the outcome."""

from __future__ import annotations

import ast
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import hub.domain.outcome
from hub.delivery.router import AttemptRecord, RouteResult
from hub.domain.outcome import RetryPolicy, Timing, decide, next_values

NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts=3, base_seconds=2, cap_seconds=60)


def notification(**columns) -> SimpleNamespace:
    """A claimed notification's columns (a snapshot, as the dispatcher hands them on)."""
    return SimpleNamespace(**{"attempts": 0, "provider": None, "provider_message_id": None,
                              "tried_providers": [], "expires_at": None, **columns})


def result(status: str, *providers: str, **fields) -> RouteResult:
    """A route result with one attempt record per provider called."""
    attempts = [AttemptRecord(p, "transient", NOW, 1.0) for p in providers]
    return RouteResult(status=status, provider=providers[-1] if providers else None,
                       attempts=attempts, **fields)


def test_sent_with_a_webhook_provider_waits_for_its_receipt():
    sent = decide(notification(), result("sent", "sg", provider_message_id="m-1"), NOW,
                  current="sending", policy=POLICY, timing=Timing(receipt_deadline_seconds=600))
    values = sent.values
    assert (sent.reported, values["status"], values["attempts"]) == ("sent", "sent", 1)
    assert values["sent_at"] == NOW and values["provider_message_id"] == "m-1"
    assert values["receipt_due_at"] == NOW + timedelta(seconds=600)
    assert values["lease_owner"] is None and values["lease_until"] is None
    assert "send_started_at" not in values  # its receipt may still name the call
    assert not sent.plan_fallback


def test_sent_without_a_receipt_deadline_is_done():
    sent = decide(notification(), result("sent", "smtp"), NOW, current="sending",
                  policy=POLICY)
    assert sent.values["receipt_due_at"] is None


def test_a_retry_backs_off_and_keeps_the_providers_tried():
    values = next_values(notification(tried_providers=["a"]), result("retry", "a", "b"), NOW,
                         policy=POLICY, rng=random.Random(7))
    assert values["status"] == "pending" and values["attempts"] == 1
    assert NOW <= values["next_attempt_at"] <= NOW + timedelta(seconds=2)
    assert values["tried_providers"] == ["a", "a", "b"] and values["provider"] == "b"
    assert values["send_started_at"] is None and values["send_provider"] is None


def test_retry_after_is_a_floor():
    values = next_values(notification(), result("retry", "a", retry_after=45), NOW,
                         policy=POLICY)
    assert values["next_attempt_at"] == NOW + timedelta(seconds=45)


def test_a_retry_that_called_no_provider_costs_no_attempt_unless_counted():
    held = next_values(notification(attempts=1), result("retry", retry_after=60), NOW,
                       policy=POLICY)
    assert (held["status"], held["attempts"]) == ("pending", 1)
    slow = next_values(notification(attempts=1), result("retry", counts_as_attempt=True), NOW,
                       policy=POLICY)
    assert slow["attempts"] == 2


def test_a_provider_that_only_said_too_many_requests_costs_no_attempt():
    # Found from outside: a 429 spell of two minutes turned every text into a dead letter,
    # although a 429 means the provider did not process the request.
    throttled = RouteResult(status="retry", provider="tw", retry_after=1, attempts=[
        AttemptRecord("tw", "rate_limited", NOW, 1.0)])
    held = next_values(notification(attempts=2), throttled, NOW, policy=POLICY)
    assert (held["status"], held["attempts"]) == ("pending", 2)
    assert held["next_attempt_at"] >= NOW + timedelta(seconds=1)
    # One provider throttled, the next one failed: that is an attempt.
    mixed = RouteResult(status="retry", provider="b", attempts=[
        AttemptRecord("a", "rate_limited", NOW, 1.0), AttemptRecord("b", "transient", NOW, 1.0)])
    assert next_values(notification(attempts=2), mixed, NOW, policy=POLICY)["status"] == "dead"


def test_the_last_attempt_gives_up_and_plans_the_fallback():
    dead = decide(notification(attempts=2), result("retry", "a", error="timeout"), NOW,
                  current="sending", policy=POLICY)
    assert (dead.values["status"], dead.values["attempts"]) == ("dead", 3)
    assert dead.values["last_error"] == "timeout"
    assert dead.plan_fallback


def test_a_permanent_failure_plans_the_fallback():
    failed = decide(notification(), result("failed", "a", error="rejected"), NOW,
                    current="sending", policy=POLICY)
    assert failed.values["status"] == "failed" and failed.plan_fallback


def test_final_outcomes_that_are_not_failures_plan_nothing():
    for status in ("skipped", "expired", "superseded"):
        done = decide(notification(), result(status, error="why"), NOW, current="sending",
                      policy=POLICY)
        assert (done.values["status"], done.plan_fallback) == (status, False)
        assert done.values["attempts"] == 0


def test_a_retry_after_the_expiry_expires_instead():
    values = next_values(notification(expires_at=NOW + timedelta(seconds=10)),
                         result("retry", "a", retry_after=30), NOW, policy=POLICY)
    assert values["status"] == "expired"
    assert values["last_error"] == "expires before the next retry"


def test_an_unknown_outcome_waits_for_the_reconcile():
    channel = next_values(notification(), result("unknown", "tw"), NOW, policy=POLICY,
                          timing=Timing(reconcile_seconds=120))
    assert channel["status"] == "unknown"
    assert channel["next_attempt_at"] == NOW + timedelta(seconds=120)
    assert "send_started_at" not in channel  # the send intent stays for the reconcile
    own = next_values(notification(), result("unknown", "tw", reconcile_in=5), NOW,
                      policy=POLICY, timing=Timing(reconcile_seconds=120))
    assert own["next_attempt_at"] == NOW + timedelta(seconds=5)


def test_failover_after_a_missing_receipt_adds_the_next_provider():
    """Claimed from ``sent`` past its receipt deadline, the router sent via another provider."""
    values = next_values(notification(tried_providers=["sg"], provider="sg",
                                      provider_message_id="old"),
                         result("sent", "ses", provider_message_id="new"), NOW, policy=POLICY)
    assert values["tried_providers"] == ["sg", "ses"] and values["provider"] == "ses"
    assert values["provider_message_id"] == "new"


def test_a_receipt_that_came_first_stays():
    """Delivered before the send's outcome was written: the status stays, no deadline is set
    (no failover), the attempt and the lease release are written, the timeline says sent."""
    kept = decide(notification(), result("sent", "sg"), NOW, current="delivered",
                  policy=POLICY, timing=Timing(receipt_deadline_seconds=600))
    assert kept.values["status"] == "delivered" and kept.reported == "sent"
    assert "receipt_due_at" not in kept.values
    assert kept.values["attempts"] == 1 and kept.values["lease_owner"] is None
    bounced = decide(notification(), result("retry", "sg", error="timeout"), NOW,
                     current="bounced", policy=POLICY)
    assert bounced.values["status"] == "bounced" and bounced.reported == "pending"
    assert "next_attempt_at" not in bounced.values and "last_error" not in bounced.values
    assert not bounced.plan_fallback  # the receipt planned it


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports (parsed, so imports under TYPE_CHECKING count too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    modules = {node.module for node in ast.walk(tree)
               if isinstance(node, ast.ImportFrom) and node.module}
    return modules | {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                      for alias in node.names}


def test_the_outcome_decision_and_the_composer_are_pure():
    """The outcome decision needs no database or HTTP; rendering never reaches the store."""
    modules = imported_modules(Path(hub.domain.outcome.__file__))
    assert not {m for m in modules if m.split(".")[0] in ("sqlalchemy", "aiohttp")}
    assert not {m for m in modules if m.startswith(
        ("hub.store", "hub.delivery", "hub.processing", "hub.web"))}
    content = Path(hub.domain.outcome.__file__).parents[1] / "content"
    for name in ("composer.py", "context.py"):
        assert not {m for m in imported_modules(content / name)
                    if m.startswith(("hub.store", "hub.delivery", "sqlalchemy"))}, name
