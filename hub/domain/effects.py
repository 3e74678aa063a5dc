"""What a decision leaves behind once its return has an id: timeline entries, outbox rows
(planned, or skipped with a reason) and upstream actions. Pure: plain dicts for the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hub.domain.customers import contact_from
from hub.domain.planner import Contact

if TYPE_CHECKING:
    from datetime import datetime

    from hub.domain.decide import Decided
    from hub.domain.planner import PlannedNotification, Planner


@dataclass(slots=True)
class Effects:
    """The rows one decision produces."""

    timeline: list[dict] = field(default_factory=list)
    #: Outbox rows (the planned notifications).
    notifications: list[dict] = field(default_factory=list)
    #: Upstream actions and help-desk webhooks decided by rules.
    actions: list[dict] = field(default_factory=list)
    #: Every notification considered, planned or skipped (what a dry run reports).
    planned: list[PlannedNotification] = field(default_factory=list)


#: The stage of the emails ``notify_team`` sends the support team (not the customer).
TEAM_STAGE = "team_review"

def effects_of(decided: Decided, *, planner: Planner, return_id: int,
               inbox_event_id: int | None, now: datetime) -> Effects:
    """The timeline entries, outbox rows and upstream actions of ``decided`` for the return
    stored as ``return_id``."""
    out = _Out(decided, return_id, inbox_event_id, now)
    event, ret = decided.event, decided.ret
    out.effects.timeline.append({
        "return_id": return_id, "kind": "event", "outcome": decided.outcome.value,
        "event_type": event.type.value, "from_state": decided.from_state,
        "to_state": decided.event_state or ret.state or None, "inbox_event_id": inbox_event_id,
        "notification_id": None,
        "detail": {"source": event.source, "source_event_id": event.source_event_id},
        "occurred_at": event.occurred_at, "recorded_at": now,
    })
    if decided.decision is not None:
        _record_decision(out)
    if decided.stage is None:
        return out.effects
    if not decided.verdict.notify:
        out.entry(kind="notification", outcome="withheld",
                  detail={"stage": decided.stage, "reason": decided.verdict.reason})
        return out.effects
    decision, customer = decided.decision, decided.customer
    planned = planner.plan(
        return_id=return_id, cycle=ret.cycle, stage=decided.stage,
        contact=contact_from(customer), customer_key=customer.identity if customer else None,
        inbox_event_id=inbox_event_id, event_received_at=decided.received_at, now=now,
        channels=decision.channels if decision else None,
        template=decision.template if decision else None,
        suppressed=decision.suppresses if decision else None)
    if decision is not None:
        planned.extend(_plan_team(out, planner))
    for plan in planned:
        if plan.row is not None:
            out.effects.notifications.append(plan.row)
        out.effects.timeline.append({
            "return_id": return_id, "kind": "notification",
            "outcome": "planned" if plan.row else "skipped",
            "event_type": event.type.value, "from_state": None, "to_state": None,
            "inbox_event_id": inbox_event_id,
            "notification_id": plan.row["id"] if plan.row else None,
            "detail": {"channel": plan.channel, "stage": plan.stage, "source": event.source,
                       **({"reason": plan.skipped_reason} if plan.skipped_reason else {})},
            "occurred_at": now, "recorded_at": now,
        })
    out.effects.planned = planned
    return out.effects


class _Out:
    """The effects being built, with what every row names."""

    def __init__(self, decided: Decided, return_id: int, inbox_event_id: int | None,
                 now: datetime) -> None:
        self.decided, self.return_id, self.inbox_event_id, self.now = (
            decided, return_id, inbox_event_id, now)
        self.effects = Effects()

    def entry(self, *, kind: str, outcome: str, detail: dict, from_state: str | None = None,
              to_state: str | None = None) -> None:
        self.effects.timeline.append({
            "return_id": self.return_id, "kind": kind, "outcome": outcome,
            "event_type": self.decided.event.type.value, "from_state": from_state,
            "to_state": to_state, "inbox_event_id": self.inbox_event_id,
            "notification_id": None, "detail": {**detail, "source": self.decided.event.source},
            "occurred_at": self.now, "recorded_at": self.now})

    def action(self, rule: str | None, action: str, params: dict, *,
               key: str | None = None) -> None:
        cycle = self.decided.ret.cycle
        self.effects.actions.append({
            "idempotency_key": f"{self.return_id}:{cycle}:{key or action}",
            "return_id": self.return_id, "rule": rule or "", "action": action, "params": params,
            "status": "pending", "attempts": 0, "next_attempt_at": self.now,
            "created_at": self.now})


def _record_decision(out: _Out) -> None:
    """Timeline entries for each rule that matched or failed, a rule's state change, and
    the upstream actions to carry out."""
    decided = out.decided
    decision = decided.decision
    for match in decision.matches:
        if not match.matched and not match.error:
            continue
        out.entry(kind="rule", outcome="matched" if match.matched else "error",
                  detail={"rule": match.rule, "actions": match.actions,
                          **({"error": match.error} if match.error else {})})
    if decided.event_state is not None:
        out.entry(kind="rule", outcome="moved", from_state=decided.event_state,
                  to_state=decided.ret.state, detail={"action": decision.transition.do,
                                                      "rule": decision.transition_rule})
    transition = decision.transition
    if transition is not None and transition.do in ("approve", "decline"):
        params = ({"decline_reason": transition.reason,
                   **({"decline_note": transition.note} if transition.note else {})}
                  if transition.do == "decline" else {})
        out.action(decision.transition_rule, transition.do, params)
    for team in decision.team:
        if team.webhook:
            owner = next((m.rule for m in decision.matched if "notify_team" in m.actions), "")
            out.action(owner, "webhook",
                       {"url": team.webhook, "stage": decided.stage or decided.ret.state},
                       key=f"webhook:{team.webhook}")


def _plan_team(out: _Out, planner: Planner) -> list[PlannedNotification]:
    """Emails to the support team asked for by ``notify_team`` actions."""
    decided, planned = out.decided, []
    for team in decided.decision.team:
        if not team.email:
            continue
        for plan in planner.plan(
                return_id=out.return_id, cycle=decided.ret.cycle, stage=TEAM_STAGE,
                contact=Contact(email=team.email), customer_key=None,
                inbox_event_id=out.inbox_event_id, event_received_at=decided.received_at,
                now=out.now, channels=["email"], template=team.template):
            if plan.row is not None:
                plan.row["next_attempt_at"] = out.now  # the team is told at once
            planned.append(plan)
    return planned
