"""What one event does to its return: the one decision the pipeline and the dry run share.

:func:`decide` takes a return's current facts, its customer and an event, and says what the
return becomes (lifecycle state, merged fields, reopen cycle, exception flag, rule tags and
transitions), what the customer becomes, which stage the return reached and whether that stage
may notify. :func:`hub.domain.effects.effects_of` then turns the decision into timeline
entries, outbox rows and upstream actions once the return has its id. Pure: the caller loads
the views and stores the results.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from hub.domain.customers import customer_identity, merge_customer
from hub.domain.fields import counted_at, merge_fields, tracking_numbers
from hub.domain.views import CustomerView, ReturnView
from hub.events import EVENT_TARGET, EventType, Lifecycle, Outcome, ReturnState, Transition
from hub.notifiable import is_backfill
from hub.rules.context import rule_variables
from hub.rules.engine import Decision, target_state

if TYPE_CHECKING:
    from datetime import datetime

    from hub.events import ReturnEvent
    from hub.notifiable import NoticeGate, Verdict
    from hub.rules.engine import RuleEngine
    from hub.security import PiiCipher

#: The (first) event type whose lifecycle target is each state: how a rule's transition moves.
_ACTION_EVENT: dict[ReturnState, EventType] = {}
for _type, _state in EVENT_TARGET.items():
    _ACTION_EVENT.setdefault(_state, _type)


@dataclass(slots=True)
class Decided:
    """What :func:`decide` decided for one event."""

    event: ReturnEvent
    #: The return after the event (``id`` None: not stored yet).
    ret: ReturnView
    #: The customer after the event, None when the return has none.
    customer: CustomerView | None
    outcome: Outcome
    #: The state before the event (None for a new return).
    from_state: str | None
    #: The stage reached (a state, or ``shipment_exception``), None when nothing was reached.
    stage: str | None
    received_at: datetime
    #: The rules' decision, None when the rules did not run (no engine, no stage, history).
    decision: Decision | None = None
    #: The state the event itself reached, when a rule then moved the return on.
    event_state: str | None = None
    #: Whether the stage may notify (None without a stage).
    verdict: Verdict | None = None
    #: Tracking numbers the event made known (carrier scans parked on them may now apply).
    new_tracking: set[str] = field(default_factory=set)


def decide(current: ReturnView | None, customer: CustomerView | None, event: ReturnEvent, *,
           rules: RuleEngine | None, gate: NoticeGate, cipher: PiiCipher, now: datetime,
           received_at: datetime) -> Decided:
    """Apply ``event`` to ``current`` (None: a return first heard of) and its ``customer``
    (None: the return has none yet; the event's customer then becomes one). ``cipher`` only
    hashes an email into a customer identity; ``received_at`` is when the hub received the
    event (stale events notify nobody)."""
    before = current if current is not None else ReturnView.first_heard(event, now)
    from_state = ReturnState(before.state) if before.state else None
    transition = Lifecycle.apply(from_state, event.type)
    happened = counted_at(event, received_at)
    if before.cycle_started_at is not None and happened < before.cycle_started_at \
            and transition.outcome in (Outcome.MOVED, Outcome.FLAGGED):
        # It happened before the return was reopened: the earlier cycle's news (the ERP's
        # report of the refund Shopify told of, arriving after the reopen), recorded and
        # told to no one. Found from outside: the customer got the refund twice.
        transition = Transition(outcome=Outcome.LATE, from_state=from_state,
                                to_state=from_state)
    ret = merge_fields(before, event, reference_mode=gate.policy(event.source).customer_reference,
                       now=now, received_at=received_at)
    stage = None
    if transition.outcome is Outcome.MOVED:
        ret.state = stage = transition.to_state.value
        if event.type is EventType.REOPENED:
            ret.cycle += 1
            ret.cycle_started_at = happened
            ret.exception_flag = False  # a new cycle, a new parcel
    elif transition.outcome is Outcome.FLAGGED:
        # The customer is told of a parcel's problem once: a carrier repeats its exception
        # with each scan (return_to_sender, then failure...), and each planned the stage
        # again, which the outbox's unique key dropped while the timeline said "planned".
        stage = None if before.exception_flag else "shipment_exception"
        ret.exception_flag = True
    if not ret.state:  # a new return first heard of through a non-moving event
        ret.state = ReturnState.REQUESTED.value
    decided = Decided(event=event, ret=ret, customer=_customer_after(customer, event, cipher, now),
                      outcome=transition.outcome,
                      from_state=from_state.value if from_state else None, stage=stage,
                      received_at=received_at, new_tracking=tracking_numbers(before, ret, event))
    if rules is not None and stage is not None and not is_backfill(event):
        _run_rules(decided, rules)  # history decides nothing upstream
    if decided.stage is not None:
        decided.verdict = gate.verdict(event, decided.stage, received_at)
    return decided


def _customer_after(customer: CustomerView | None, event: ReturnEvent, cipher: PiiCipher,
                    now: datetime) -> CustomerView | None:
    if event.customer is None:
        return customer
    if customer is None:
        identity = customer_identity(event.source, event.customer, cipher)
        if identity is None:
            return None
        customer = CustomerView(identity=identity, updated_at=now)
    return merge_customer(customer, event.customer, now)


def _run_rules(decided: Decided, rules: RuleEngine) -> None:
    """Evaluate the rules; apply a rule's tags and approve/decline/hold to the return."""
    if rules.empty:  # nothing to decide: skip building the rules' variables
        decided.decision = Decision()
        return
    ret, event = decided.ret, decided.event
    details = ret.details or {}
    decided.decision = decision = rules.evaluate(rule_variables(
        event, ret, state=decided.from_state, stage=decided.stage,
        items=details.get("items", []), tags=details.get("tags", [])))
    if decision.tags:
        ret.details = {**details, "tags": sorted({*details.get("tags", []), *decision.tags})}
    if decision.transition is None:
        return
    moved = Lifecycle.apply(ReturnState(ret.state),
                            _ACTION_EVENT[target_state(decision.transition)])
    if moved.outcome is Outcome.MOVED:
        decided.event_state = ret.state
        decided.ret = replace(ret, state=moved.to_state.value)
        decided.stage = decided.ret.state
