"""Applying a batch of inbox events to returns, in one transaction.

For each event: find its return (by the platform's return id, or by tracking number for carrier
scans), run the lifecycle state machine, merge the event's data, record the timeline, and plan
the notifications of a newly reached stage. A carrier event whose tracking number no return has
yet is *parked* and applied when a return with that number arrives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, tuple_, update

from hub.content.context import details_from_event
from hub.delivery.planner import Contact
from hub.events import EVENT_TARGET, EventType, Lifecycle, Outcome, ReturnState
from hub.processing.customers import (
    contact_of,
    customer_identity,
    merge_customer,
    new_customer,
)
from hub.rules.context import rule_variables
from hub.rules.engine import target_state
from hub.store.dialect import insert_ignoring_conflicts, lock_for_update
from hub.store.models import (
    Customer,
    InboxEvent,
    Notification,
    Return,
    RuleAction,
    TimelineEntry,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from hub.delivery.planner import Planner
    from hub.events import ReturnEvent
    from hub.rules.engine import Decision, RuleEngine
    from hub.store.codec import EventCodec


#: Keys of an event's ``extra`` that name the return's region, in order of preference.
REGION_KEYS = ("region", "shipping_country", "country")


@dataclass(slots=True)
class ClaimedEvent:
    """An inbox row claimed by a worker, decrypted."""

    inbox_id: int
    event: ReturnEvent
    received_at: datetime
    attempts: int


@dataclass(slots=True)
class ApplyReport:
    """What one batch did, for the worker's bookkeeping and for ``simulate``."""

    done: list[int] = field(default_factory=list)
    parked: list[int] = field(default_factory=list)
    #: Events that can never be applied, with the reason (dead letters).
    unmatchable: dict[int, str] = field(default_factory=dict)
    notifications: list[dict] = field(default_factory=list)
    timeline: list[dict] = field(default_factory=list)
    #: Upstream actions and help-desk webhooks decided by rules.
    actions: list[dict] = field(default_factory=list)


@dataclass(slots=True)
class _Work:
    item: ClaimedEvent
    ret: Return
    outcome: Outcome
    from_state: str | None
    stage: str | None
    decision: Decision | None = None
    #: The state the event itself reached, when a rule then moved the return on.
    event_state: str | None = None


class BatchApplier:
    """Applies claimed events to returns; see the module docstring."""

    def __init__(self, codec: EventCodec, planner: Planner,
                 rules: RuleEngine | None = None) -> None:
        self.codec = codec
        self.cipher = codec.cipher
        self.planner = planner
        self.rules = rules

    async def apply(self, session: AsyncSession, items: list[ClaimedEvent],
                    now: datetime) -> ApplyReport:
        """Apply ``items`` inside the caller's transaction. Raises on a database error; the
        caller then retries the events one by one to isolate a poison event."""
        report = ApplyReport()
        returns = await self._load_returns(session, items)
        customers = await self._load_customers(session, items, returns)
        owners: dict[int, Customer] = {}  # id(return) -> its customer row in this batch
        work: list[_Work] = []
        new_tracking: set[str] = set()
        for item in items:
            event = item.event
            ret = self._find_return(returns, event)
            if ret is None:
                if not event.return_id and event.tracking and event.tracking.number:
                    report.parked.append(item.inbox_id)
                    continue
                if not event.return_id:
                    report.unmatchable[item.inbox_id] = (
                        "the event names no return and no tracking number (enrichment did not "
                        "find the return)")
                    continue
                ret = Return(source=event.source, external_id=event.return_id, state="",
                             cycle=0, exception_flag=False, created_at=now, updated_at=now)
                session.add(ret)
                returns[("key", event.source, event.return_id)] = ret
            current = ReturnState(ret.state) if ret.state else None
            transition = Lifecycle.apply(current, event.type)
            old_tracking = ret.tracking_number
            self._merge_fields(ret, event, transition.outcome, now)
            if ret.tracking_number and ret.tracking_number != old_tracking:
                new_tracking.add(ret.tracking_number)
                returns[("tracking", ret.tracking_number)] = ret
            self._merge_customer(session, ret, event, customers, owners, now)
            stage = None
            if transition.outcome is Outcome.MOVED:
                ret.state = transition.to_state.value
                stage = ret.state
                if event.type is EventType.REOPENED:
                    ret.cycle += 1
            elif transition.outcome is Outcome.FLAGGED:
                ret.exception_flag = True
                stage = "shipment_exception"
            if not ret.state:  # a new return first heard of through a non-moving event
                ret.state = ReturnState.REQUESTED.value
            unit = _Work(item, ret, transition.outcome, current.value if current else None, stage)
            if self.rules is not None and transition.outcome in (Outcome.MOVED, Outcome.FLAGGED):
                self._run_rules(unit)
            work.append(unit)
            report.done.append(item.inbox_id)
        await session.flush()  # assigns ids to new returns and customers
        for unit in work:
            customer = owners.get(id(unit.ret)) or customers.get(unit.ret.customer_id)
            self._record(unit, report, customer, now)
        await self._write(session, report, new_tracking, now)
        return report

    def _run_rules(self, unit: _Work) -> None:
        """Evaluate the rules; apply a rule's approve/decline/hold to the return at once."""
        ret, event = unit.ret, unit.item.event
        details = self.codec.decode_json(ret.details_enc) or {}
        unit.decision = decision = self.rules.evaluate(rule_variables(
            event, ret, state=unit.from_state, stage=unit.stage,
            items=details.get("items", []), tags=details.get("tags", [])))
        if decision.tags:
            details["tags"] = sorted({*details.get("tags", []), *decision.tags})
            ret.details_enc = self.codec.encode_json(details)
        if decision.transition is None:
            return
        target = target_state(decision.transition)
        moved = Lifecycle.apply(ReturnState(ret.state),
                                next(t for t, s in EVENT_TARGET.items() if s is target))
        if moved.outcome is Outcome.MOVED:
            unit.event_state = ret.state
            ret.state = moved.to_state.value
            unit.stage = ret.state

    async def _load_returns(self, session: AsyncSession, items: list[ClaimedEvent]) -> dict:
        found: dict[tuple, Return] = {}
        keys = {(i.event.source, i.event.return_id) for i in items if i.event.return_id}
        if keys:
            query = select(Return).where(tuple_(Return.source, Return.external_id).in_(keys))
            for ret in (await session.execute(lock_for_update(session, query))).scalars():
                found[("key", ret.source, ret.external_id)] = ret
        numbers = {i.event.tracking.number for i in items
                   if not i.event.return_id and i.event.tracking and i.event.tracking.number}
        if numbers:
            query = select(Return).where(Return.tracking_number.in_(numbers)).order_by(Return.id)
            for ret in (await session.execute(lock_for_update(session, query))).scalars():
                found[("tracking", ret.tracking_number)] = ret  # the newest wins
        return found

    async def _load_customers(self, session: AsyncSession, items: list[ClaimedEvent],
                              returns: dict) -> dict:
        identities = {customer_identity(i.event.source, i.event.customer, self.cipher)
                      for i in items} - {None}
        ids = {r.customer_id for r in returns.values() if r.customer_id}
        found: dict[Any, Customer] = {}
        if identities or ids:
            query = select(Customer).where(Customer.identity.in_(identities) | Customer.id.in_(ids))
            for row in (await session.execute(query)).scalars():
                found[row.identity] = row
                found[row.id] = row
        return found

    @staticmethod
    def _find_return(returns: dict, event: ReturnEvent) -> Return | None:
        if event.return_id:
            return returns.get(("key", event.source, event.return_id))
        if event.tracking and event.tracking.number:
            return returns.get(("tracking", event.tracking.number))
        return None

    def _merge_fields(self, ret: Return, event: ReturnEvent, outcome: Outcome,
                      now: datetime) -> None:
        """Newer events overwrite fields; older (late) ones only fill what is still empty."""
        newer = ret.last_event_at is None or event.occurred_at >= ret.last_event_at

        def put(attr: str, value: Any) -> None:
            if value is not None and (newer or getattr(ret, attr) is None):
                setattr(ret, attr, value)

        put("order_ref", event.order_id)
        put("order_number", event.order_number)
        put("reason", event.reason)
        if event.order_total:
            put("order_total", event.order_total.amount)
            put("currency", event.order_total.currency)
        if event.refund_amount:
            put("refund_amount", event.refund_amount.amount)
            put("currency", event.refund_amount.currency)
        put("refund_method", event.refund_method)
        if event.tracking:
            put("carrier", event.tracking.carrier)
            put("tracking_number", event.tracking.number)
            put("tracking_url", event.tracking.url)
            put("label_url", event.tracking.label_url)
        region = next((str(event.extra[k]).strip().upper() for k in REGION_KEYS
                       if isinstance(event.extra.get(k), str) and event.extra[k].strip()), None)
        found = details_from_event(event)  # drop-off codes, dates, notes for the templates
        if region:  # what region-limited admin tokens are checked against
            found["region"] = region
        if (event.items and (newer or ret.details_enc is None)) or found:
            details = self.codec.decode_json(ret.details_enc) or {}
            if event.items and (newer or "items" not in details):
                details["items"] = [item.model_dump(mode="json") for item in event.items]
            for key, value in found.items():
                if newer or key not in details:
                    details[key] = value
            ret.details_enc = self.codec.encode_json(details)
        if newer:
            ret.last_event_at = event.occurred_at
        ret.updated_at = now

    def _merge_customer(self, session: AsyncSession, ret: Return, event: ReturnEvent,
                        customers: dict, owners: dict, now: datetime) -> None:
        if event.customer is None:
            return
        row = owners.get(id(ret)) or (customers.get(ret.customer_id) if ret.customer_id else None)
        if row is None:
            identity = customer_identity(event.source, event.customer, self.cipher)
            row = customers.get(identity)
            if row is None and identity:
                row = new_customer(identity, now)
                session.add(row)
                customers[identity] = row
        if row is None:
            return
        merge_customer(row, event.customer, self.cipher, now)
        if row.id is None or ret.customer_id != row.id:
            ret.customer = row
        owners[id(ret)] = row

    def _record(self, unit: _Work, report: ApplyReport, customer: Customer | None,
                now: datetime) -> None:
        item, ret = unit.item, unit.ret
        report.timeline.append({
            "return_id": ret.id, "kind": "event", "outcome": unit.outcome.value,
            "event_type": item.event.type.value, "from_state": unit.from_state,
            "to_state": unit.event_state or ret.state or None, "inbox_event_id": item.inbox_id,
            "notification_id": None,
            "detail": {"source": item.event.source, "source_event_id": item.event.source_event_id},
            "occurred_at": item.event.occurred_at, "recorded_at": now,
        })
        decision = unit.decision
        if decision is not None:
            self._record_decision(unit, report, now)
        if unit.stage is None:
            return
        planned = self.planner.plan(
            return_id=ret.id, cycle=ret.cycle, stage=unit.stage,
            contact=contact_of(customer, self.cipher),
            customer_key=customer.identity if customer else None,
            inbox_event_id=item.inbox_id, event_received_at=item.received_at, now=now,
            channels=decision.channels if decision else None,
            template=decision.template if decision else None,
            suppressed=decision.suppresses if decision else None)
        if decision is not None:
            planned.extend(self._plan_team(unit, now))
        for plan in planned:
            if plan.row is not None:
                report.notifications.append(plan.row)
            report.timeline.append({
                "return_id": ret.id, "kind": "notification",
                "outcome": "planned" if plan.row else "skipped",
                "event_type": item.event.type.value, "from_state": None, "to_state": None,
                "inbox_event_id": item.inbox_id,
                "notification_id": plan.row["id"] if plan.row else None,
                "detail": {"channel": plan.channel, "stage": plan.stage,
                           **({"reason": plan.skipped_reason} if plan.skipped_reason else {})},
                "occurred_at": now, "recorded_at": now,
            })

    def _record_decision(self, unit: _Work, report: ApplyReport, now: datetime) -> None:
        """Timeline entries for each rule that matched or failed, a rule's state change, and
        the upstream actions to carry out."""
        item, ret, decision = unit.item, unit.ret, unit.decision
        for match in decision.matches:
            if not match.matched and not match.error:
                continue
            report.timeline.append(self._entry(
                ret, item, now, kind="rule", outcome="matched" if match.matched else "error",
                detail={"rule": match.rule, "actions": match.actions,
                        **({"error": match.error} if match.error else {})}))
        if unit.event_state is not None:
            report.timeline.append(self._entry(
                ret, item, now, kind="rule", outcome="moved", from_state=unit.event_state,
                to_state=ret.state, detail={"action": decision.transition.do,
                                            "rule": decision.matched[0].rule}))
        rule = next((m.rule for m in decision.matched
                     if decision.transition and decision.transition.do in m.actions), None)
        if decision.transition is not None and decision.transition.do in ("approve", "decline"):
            params = ({"decline_reason": decision.transition.reason,
                       **({"decline_note": decision.transition.note}
                          if decision.transition.note else {})}
                      if decision.transition.do == "decline" else {})
            report.actions.append(self._action(ret, rule, decision.transition.do, params, now))
        for team in decision.team:
            if team.webhook:
                owner = next((m.rule for m in decision.matched if "notify_team" in m.actions), "")
                report.actions.append(self._action(
                    ret, owner, "webhook", {"url": team.webhook, "stage": unit.stage or ret.state},
                    now, key=f"webhook:{team.webhook}"))

    def _plan_team(self, unit: _Work, now: datetime) -> list:
        """Emails to the support team asked for by ``notify_team`` actions."""
        planned = []
        for team in unit.decision.team:
            if not team.email:
                continue
            for plan in self.planner.plan(
                    return_id=unit.ret.id, cycle=unit.ret.cycle, stage="team_review",
                    contact=Contact(email=team.email), customer_key=None,
                    inbox_event_id=unit.item.inbox_id, event_received_at=unit.item.received_at,
                    now=now, channels=["email"], template=team.template):
                if plan.row is not None:
                    plan.row["next_attempt_at"] = now  # the team is told at once
                planned.append(plan)
        return planned

    @staticmethod
    def _action(ret: Return, rule: str | None, action: str, params: dict, now: datetime, *,
                key: str | None = None) -> dict:
        return {"idempotency_key": f"{ret.id}:{ret.cycle}:{key or action}", "return_id": ret.id,
                "rule": rule or "", "action": action, "params": params, "status": "pending",
                "attempts": 0, "next_attempt_at": now, "created_at": now}

    @staticmethod
    def _entry(ret: Return, item: ClaimedEvent, now: datetime, *, kind: str, outcome: str,
               detail: dict, from_state: str | None = None, to_state: str | None = None) -> dict:
        return {"return_id": ret.id, "kind": kind, "outcome": outcome,
                "event_type": item.event.type.value, "from_state": from_state,
                "to_state": to_state, "inbox_event_id": item.inbox_id, "notification_id": None,
                "detail": detail, "occurred_at": now, "recorded_at": now}

    async def _write(self, session: AsyncSession, report: ApplyReport, new_tracking: set[str],
                     now: datetime) -> None:
        if report.notifications:
            await session.execute(
                insert_ignoring_conflicts(session, Notification.__table__, "idempotency_key"),
                report.notifications)
        if report.timeline:
            await session.execute(TimelineEntry.__table__.insert(), report.timeline)
        if report.actions:
            await session.execute(
                insert_ignoring_conflicts(session, RuleAction.__table__, "idempotency_key"),
                report.actions)
        if report.done:
            await session.execute(
                update(InboxEvent).where(InboxEvent.id.in_(report.done)).values(
                    status="done", processed_at=now, lease_owner=None, lease_until=None,
                    last_error=None).execution_options(synchronize_session=False))
        if report.parked:
            await session.execute(
                update(InboxEvent).where(InboxEvent.id.in_(report.parked)).values(
                    status="parked", lease_owner=None, lease_until=None,
                    last_error="no return with this tracking number yet"
                ).execution_options(synchronize_session=False))
        if report.unmatchable:
            for inbox_id, reason in report.unmatchable.items():
                await session.execute(
                    update(InboxEvent).where(InboxEvent.id == inbox_id).values(
                        status="failed", lease_owner=None, lease_until=None, last_error=reason)
                    .execution_options(synchronize_session=False))
        if new_tracking:
            # Carrier scans that arrived before their return can be applied now.
            await session.execute(
                update(InboxEvent).where(InboxEvent.status == "parked",
                                         InboxEvent.tracking_number.in_(new_tracking))
                .values(status="pending", available_at=now, last_error=None)
                .execution_options(synchronize_session=False))
