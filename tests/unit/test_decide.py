"""The domain's decision for one event, without a database: lifecycle, merged fields, reopen
cycles, the exception flag, rules (tags, transitions, team messages, upstream actions),
customers and their contact details, backfilled and stale events, tracking numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.config import NotificationSettings
from hub.domain.decide import decide
from hub.domain.effects import effects_of
from hub.domain.planner import Planner
from hub.domain.views import CustomerView, ReturnView
from hub.events import ReturnEvent
from hub.notifiable import NoticeGate
from hub.rules import RuleEngine, RuleSettings
from hub.security import PiiCipher, generate_fernet_key

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
CIPHER = PiiCipher([generate_fernet_key()], "lookup")
SETTINGS = NotificationSettings(stages={
    "requested": {"channels": ["email", "portal"]}, "approved": {"channels": ["email", "sms"]},
    "pending_review": {"channels": ["email"]}, "shipment_exception": {"channels": ["email"]},
    "refunded": {"channels": ["email"]}})
GATE = NoticeGate(SETTINGS)
PLANNER = Planner(SETTINGS, CIPHER)
HOLD = RuleEngine([RuleSettings.model_validate({
    "name": "hold-expensive", "when": 'stage == "requested" && order.total >= 100.0',
    "actions": [{"do": "hold"}, {"do": "tag", "tag": "vip"},
                {"do": "notify_team", "email": "team@shop.example",
                 "webhook": "https://desk.example/hook"}]})])
DECLINE = RuleEngine([RuleSettings.model_validate({
    "name": "no-final-sale", "when": 'stage == "requested"',
    "actions": [{"do": "decline", "reason": "final sale"}]})])


def event(kind: str, *, at: datetime = NOW, **fields) -> ReturnEvent:
    """A ``shop`` event about return R-1."""
    return ReturnEvent.model_validate({"type": kind, "return_id": "R-1", "source": "shop",
                                       "source_event_id": kind, "occurred_at": at, **fields})


def run(kind: str, current: ReturnView | None = None, known: CustomerView | None = None, *,
        rules: RuleEngine | None = None, received_at: datetime = NOW, **fields):
    """Decide ``kind`` for ``current`` and its ``known`` customer; ``fields`` are the event's."""
    return decide(current, known, event(kind, **fields), rules=rules, gate=GATE,
                  cipher=CIPHER, now=NOW, received_at=received_at)


def stored(state: str, **fields) -> ReturnView:
    return ReturnView(source="shop", external_id="R-1", id=7, state=state, **fields)


def test_a_new_return_moves_to_the_events_state_and_plans_its_stage():
    decided = run("return.requested", customer={"id": "C-1", "email": "jane@example.com"})
    assert (decided.outcome.value, decided.from_state, decided.stage, decided.ret.state) == (
        "moved", None, "requested", "requested")
    assert decided.customer.identity == "shop:C-1"
    effects = effects_of(decided, planner=PLANNER, return_id=7, inbox_event_id=3, now=NOW)
    assert [(p.channel, p.skipped_reason) for p in effects.planned] == [
        ("email", None), ("portal", None)]  # the portal addresses the customer's identity
    assert [e["kind"] for e in effects.timeline] == ["event", "notification", "notification"]
    assert {n["idempotency_key"].split(":")[:4][-1] for n in effects.notifications} == {
        "email", "portal"}


def test_a_customer_known_by_email_only_is_keyed_by_the_emails_hash():
    decided = run("return.requested", customer={"email": " Pat@Example.com"})
    assert decided.customer.identity == f"email:{CIPHER.lookup_hash('pat@example.com')}"
    assert decided.customer.email == "Pat@Example.com"


def test_an_invalid_email_never_replaces_the_stored_one():
    known = CustomerView(identity="shop:C-1", id=2, email="jane@example.com")
    decided = run("return.approved", stored("requested"), known,
                  customer={"id": "C-1", "email": "not-an-email", "locale": "fr"})
    assert (decided.customer.email, decided.customer.locale) == ("jane@example.com", "fr")
    assert known.locale is None  # the input view is left as it was


def test_newer_events_overwrite_fields_and_late_ones_only_fill_gaps():
    current = stored("approved", reason="Defective", last_event_at=NOW)
    late = run("return.label_created", current, at=NOW - timedelta(hours=1), reason="Wrong",
               order_number="#9", tracking={"carrier": "ups", "number": "1Z"})
    assert (late.ret.reason, late.ret.order_number, late.ret.last_event_at) == (
        "Defective", "#9", NOW)
    newer = run("return.label_created", current, at=NOW + timedelta(hours=1), reason="Wrong")
    assert newer.ret.reason == "Wrong"
    assert late.new_tracking == {"1Z"}


def test_another_system_names_a_return_only_when_it_has_no_name():
    # Found from outside: an ERP's newer record renamed the Shopify return between emails.
    named = stored("approved", customer_reference="#1001-R1", last_event_at=NOW)
    erp = decide(named, None, ReturnEvent.model_validate({
        "type": "return.received", "return_id": "RMA-7", "source": "erp",
        "customer_reference": "RMA-7", "occurred_at": NOW + timedelta(hours=1)}),
        rules=None, gate=GATE, cipher=CIPHER, now=NOW, received_at=NOW + timedelta(hours=1))
    assert erp.ret.customer_reference == "#1001-R1"
    unnamed = decide(stored("approved"), None, erp.event, rules=None, gate=GATE,
                     cipher=CIPHER, now=NOW, received_at=NOW + timedelta(hours=1))
    assert unnamed.ret.customer_reference == "RMA-7"
    own = run("return.received", named, at=NOW + timedelta(hours=1),
              customer_reference="#1001-R2")
    assert own.ret.customer_reference == "#1001-R2"  # its own system may rename it


def test_an_event_dated_in_the_future_counts_as_received_and_freezes_nothing():
    # Found from outside: an approval dated 30 days ahead became the newest event for a
    # month, so the real refund after it was "late" and its amount was never taken.
    ahead = run("return.approved", stored("requested"), at=NOW + timedelta(days=30),
                refund_amount={"amount": "29.00", "currency": "USD"})
    assert ahead.ret.last_event_at == NOW
    refund = decide(ahead.ret, None, event("return.refunded", at=NOW + timedelta(seconds=5),
                                           refund_amount={"amount": "10.00", "currency": "USD"}),
                    rules=None, gate=GATE, cipher=CIPHER, now=NOW + timedelta(seconds=6),
                    received_at=NOW + timedelta(seconds=6))
    assert str(refund.ret.refund_amount) == "10.00"
    assert refund.ret.last_event_at == NOW + timedelta(seconds=5)


def test_a_reopened_return_starts_a_new_cycle():
    decided = run("return.reopened", stored("closed", cycle=1))
    assert (decided.ret.state, decided.ret.cycle, decided.stage) == ("approved", 2, "approved")
    assert run("return.reopened", stored("approved")).outcome.value == "rejected"


def test_an_event_from_before_the_reopen_belongs_to_the_earlier_cycle():
    # Found from outside: the ERP's report of the refund Shopify had told of arrived after the
    # return was reopened, and the customer was told of the refund a second time.
    reopened = run("return.reopened", stored("closed", last_event_at=NOW - timedelta(hours=2)))
    assert reopened.ret.cycle_started_at == NOW
    earlier = decide(reopened.ret, None, event("return.refunded", at=NOW - timedelta(hours=1)),
                     rules=None, gate=GATE, cipher=CIPHER, now=NOW, received_at=NOW)
    assert (earlier.outcome.value, earlier.ret.state, earlier.stage) == (
        "late", "approved", None)
    after = decide(reopened.ret, None, event("return.refunded", at=NOW + timedelta(hours=1)),
                   rules=None, gate=GATE, cipher=CIPHER, now=NOW + timedelta(hours=2),
                   received_at=NOW + timedelta(hours=2))
    assert (after.outcome.value, after.ret.state, after.stage) == (
        "moved", "refunded", "refunded")


def test_a_carrier_exception_flags_the_return_and_reaches_its_own_stage():
    decided = run("return.shipment_exception", stored("in_transit"))
    assert (decided.ret.exception_flag, decided.ret.state, decided.stage) == (
        True, "in_transit", "shipment_exception")


def test_a_carrier_repeating_its_exception_tells_the_customer_once_per_cycle():
    # Found from outside: each repeated exception planned the stage again; the outbox's key
    # dropped the row and the timeline said "planned" about a message that never existed.
    again = run("return.shipment_exception", stored("in_transit", exception_flag=True))
    assert (again.outcome.value, again.ret.exception_flag, again.stage) == (
        "flagged", True, None)
    effects = effects_of(again, planner=PLANNER, return_id=7, inbox_event_id=3, now=NOW)
    assert effects.notifications == []
    assert [e["kind"] for e in effects.timeline] == ["event"]
    reopened = run("return.reopened", stored("closed", exception_flag=True))
    assert reopened.ret.exception_flag is False


def test_a_non_moving_event_on_a_new_return_makes_it_requested_without_a_stage():
    decided = run("return.updated")
    assert (decided.ret.state, decided.stage, decided.verdict) == ("requested", None, None)


def test_a_rule_holds_tags_and_tells_the_team():
    decided = run("return.requested", rules=HOLD, customer={"email": "jane@example.com"},
                  order_total={"amount": "250.00", "currency": "USD"})
    assert (decided.event_state, decided.ret.state, decided.stage) == (
        "requested", "pending_review", "pending_review")
    assert decided.ret.details["tags"] == ["vip"]
    effects = effects_of(decided, planner=PLANNER, return_id=7, inbox_event_id=None, now=NOW)
    assert sorted((p.stage, p.channel) for p in effects.planned) == [
        ("pending_review", "email"), ("team_review", "email")]
    assert [(a["action"], a["idempotency_key"]) for a in effects.actions] == [
        ("webhook", "7:0:webhook:https://desk.example/hook")]
    assert ("rule", "moved") in {(e["kind"], e["outcome"]) for e in effects.timeline}


def test_a_declining_rule_asks_upstream_to_decline():
    decided = run("return.requested", rules=DECLINE)
    effects = effects_of(decided, planner=PLANNER, return_id=7, inbox_event_id=None, now=NOW)
    assert decided.ret.state == "declined"
    assert [(a["action"], a["params"]) for a in effects.actions] == [
        ("decline", {"decline_reason": "final sale"})]


def test_backfilled_history_runs_no_rules_and_notifies_nobody():
    decided = run("return.requested", rules=DECLINE, extra={"backfill": True})
    assert (decided.decision, decided.ret.state) == (None, "requested")
    assert decided.verdict.reason.startswith("backfilled history")
    effects = effects_of(decided, planner=PLANNER, return_id=7, inbox_event_id=None, now=NOW)
    assert effects.notifications == []
    assert effects.timeline[-1]["outcome"] == "withheld"


@pytest.mark.parametrize(("days", "notify"), [(1, True), (10, False)])
def test_a_stale_event_is_recorded_without_messages(days, notify):
    decided = run("return.refunded", stored("received"), at=NOW - timedelta(days=days))
    assert decided.verdict.notify is notify
