"""Rules dry run: which rules match an event and what would be done and sent, without side
effects (``returnhub rules test EVENT.json`` and the admin API)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from hub.delivery.planner import Contact
from hub.events import EVENT_TARGET, Lifecycle, Outcome, ReturnState
from hub.notifiable import NoticeGate, is_backfill
from hub.processing.customers import contact_of
from hub.rules.context import rule_variables
from hub.rules.engine import Decision, target_state
from hub.store.engine import utcnow
from hub.store.models import Customer, Return

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from hub.delivery.planner import Planner
    from hub.events import ReturnEvent
    from hub.rules.engine import RuleEngine
    from hub.store.codec import EventCodec


def mask_address(address: str | None) -> str | None:
    """``jane.doe@example.com`` → ``j***@example.com``; ``+14155550123`` → ``+1415***23``."""
    if not address:
        return None
    if "@" in address:
        local, _, domain = address.partition("@")
        return f"{local[:1]}***@{domain}"
    return f"{address[:5]}***{address[-2:]}" if len(address) > 7 else "***"


class RulesService:
    """The rule engine with what a dry run needs to look at (read-only)."""

    def __init__(self, engine: RuleEngine, sessionmaker: async_sessionmaker, planner: Planner,
                 codec: EventCodec, *, gate: NoticeGate | None = None) -> None:
        self.engine = engine
        #: The pipeline's own "may this event notify?" decision.
        self.gate = gate or NoticeGate(planner.settings)
        self.sessionmaker = sessionmaker
        self.planner = planner
        self.codec = codec

    async def _current(self, event: ReturnEvent) -> tuple[Return | None, Customer | None]:
        if not event.return_id:
            return None, None
        try:
            async with self.sessionmaker() as session:
                ret = (await session.execute(select(Return).where(
                    Return.source == event.source, Return.external_id == event.return_id))
                ).scalar_one_or_none()
                customer = (await session.get(Customer, ret.customer_id)
                            if ret is not None and ret.customer_id else None)
                return ret, customer
        except DBAPIError:  # no database yet: a dry run treats the return as new
            return None, None

    async def dry_run(self, event: ReturnEvent) -> dict[str, Any]:
        """What the rules and the planner would do with ``event``."""
        ret, customer = await self._current(event)
        current = ReturnState(ret.state) if ret is not None else None
        transition = Lifecycle.apply(current, event.type)
        result: dict[str, Any] = {
            "return": event.return_id, "known_return": ret is not None,
            "state": current.value if current else None, "event_outcome": transition.outcome.value,
            "rules": [], "transition": None, "transition_rule": None,
            "final_state": current.value if current else None,
            "upstream_actions": [], "would_send": [], "withheld": None}
        if transition.outcome not in (Outcome.MOVED, Outcome.FLAGGED):
            return result
        stage = (transition.to_state.value if transition.outcome is Outcome.MOVED
                 else "shipment_exception")
        final_state = transition.to_state or current
        details = self.codec.decode_json(ret.details_enc) if ret is not None else None
        items = [i.model_dump(mode="json") for i in event.items] or (details or {}).get("items", [])
        decision = Decision() if is_backfill(event) else self.engine.evaluate(rule_variables(
            event, ret, state=current.value if current else None, stage=stage, items=items,
            tags=(details or {}).get("tags", [])))  # like the applier: no rules on history
        summary = decision.as_dict()
        result["rules"] = summary["rules"]
        if decision.transition is not None:
            target = target_state(decision.transition)
            moved = Lifecycle.apply(final_state, next(
                t for t, s in EVENT_TARGET.items() if s is target))
            if moved.outcome is Outcome.MOVED:
                final_state, stage = moved.to_state, moved.to_state.value
            result["transition"] = decision.transition.do
            result["transition_rule"] = decision.transition_rule
            if decision.transition.do in ("approve", "decline"):
                result["upstream_actions"].append(decision.transition.model_dump())
        result["final_state"] = final_state.value if final_state else None
        result["upstream_actions"] += [{"do": "webhook", "url": t.webhook}
                                       for t in decision.team if t.webhook]
        contact = contact_of(customer, self.codec.cipher) if customer else Contact()
        if event.customer is not None:
            contact.email = event.customer.email or contact.email
            contact.phone = event.customer.phone or contact.phone
            contact.locale = event.customer.locale or contact.locale
            contact.attributes = {**contact.attributes, **event.customer.attributes}
        now = utcnow()
        verdict = self.gate.verdict(event, stage, now)
        if not verdict.notify:
            result["withheld"] = verdict.reason
            return result
        planned = self.planner.plan(
            return_id=ret.id if ret is not None else 0, cycle=ret.cycle if ret else 0,
            stage=stage, contact=contact, customer_key=customer.identity if customer else
            (f"{event.source}:{event.customer.id}" if event.customer and event.customer.id
             else None), inbox_event_id=None, event_received_at=now, now=now,
            channels=decision.channels, template=decision.template,
            suppressed=decision.suppresses)
        for team in decision.team:
            if team.email:
                planned += self.planner.plan(
                    return_id=0, cycle=0, stage="team_review", contact=Contact(email=team.email),
                    customer_key=None, inbox_event_id=None, event_received_at=now, now=now,
                    channels=["email"], template=team.template)
        for plan in planned:
            address = (self.codec.cipher.decrypt(plan.row["recipient_enc"])
                       if plan.row else None)
            result["would_send"].append({
                "stage": plan.stage, "channel": plan.channel, "template": plan.template,
                "to": mask_address(address) if plan.channel != "portal" else "portal",
                **({"skipped": plan.skipped_reason} if plan.skipped_reason else {})})
        return result
