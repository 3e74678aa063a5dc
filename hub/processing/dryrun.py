"""Rules dry run: which rules match an event and what would be done and sent, without side
effects (``returnhub rules test EVENT.json`` and the admin API).

It reads the return and its customer (read-only) and asks the same decision the pipeline
applies (:func:`hub.domain.decide.decide`, :func:`hub.domain.effects.effects_of`), so what it
says would be sent is what the pipeline sends; it only reports the result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from hub.domain.customers import customer_identity
from hub.domain.decide import decide
from hub.domain.effects import effects_of
from hub.notifiable import NoticeGate
from hub.store.engine import utcnow
from hub.store.models import Customer, Return
from hub.store.returns_repo import customer_view, return_view

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from hub.domain.planner import Planner
    from hub.domain.views import CustomerView, ReturnView
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

    async def _current(self, event: ReturnEvent) -> tuple[ReturnView | None,
                                                          CustomerView | None]:
        """The stored return ``event`` names and its customer (else the stored customer the
        event's customer is), as the pipeline would find them."""
        cipher = self.codec.cipher
        identity = customer_identity(event.source, event.customer, cipher)
        try:
            async with self.sessionmaker() as session:
                ret = (await session.execute(select(Return).where(
                    Return.source == event.source, Return.external_id == event.return_id))
                ).scalar_one_or_none() if event.return_id else None
                customer = (await session.get(Customer, ret.customer_id)
                            if ret is not None and ret.customer_id else None)
                if customer is None and identity is not None:
                    customer = (await session.execute(select(Customer).where(
                        Customer.identity == identity))).scalar_one_or_none()
                return (return_view(ret, self.codec) if ret is not None else None,
                        customer_view(customer, cipher) if customer is not None else None)
        except DBAPIError:  # no database yet: a dry run treats the return as new
            return None, None

    async def dry_run(self, event: ReturnEvent) -> dict[str, Any]:
        """What the rules and the planner would do with ``event``."""
        current, customer = await self._current(event)
        now = utcnow()
        decided = decide(current, customer, event, rules=self.engine, gate=self.gate,
                         cipher=self.codec.cipher, now=now, received_at=now)
        state = current.state if current is not None else None
        result: dict[str, Any] = {
            "return": event.return_id, "known_return": current is not None, "state": state,
            "event_outcome": decided.outcome.value, "rules": [], "transition": None,
            "transition_rule": None, "final_state": state, "upstream_actions": [],
            "would_send": [], "withheld": None}
        if decided.stage is None:
            return result
        decision = decided.decision
        if decision is not None:
            result["rules"] = decision.as_dict()["rules"]
            if decision.transition is not None:
                result["transition"] = decision.transition.do
                result["transition_rule"] = decision.transition_rule
                if decision.transition.do in ("approve", "decline"):
                    result["upstream_actions"].append(decision.transition.model_dump())
            result["upstream_actions"] += [{"do": "webhook", "url": t.webhook}
                                           for t in decision.team if t.webhook]
        result["final_state"] = decided.ret.state
        if not decided.verdict.notify:
            result["withheld"] = decided.verdict.reason
            return result
        effects = effects_of(decided, planner=self.planner,
                             return_id=current.id if current is not None else 0,
                             inbox_event_id=None, now=now)
        for plan in effects.planned:
            address = (self.codec.cipher.decrypt(plan.row["recipient_enc"])
                       if plan.row else None)
            result["would_send"].append({
                "stage": plan.stage, "channel": plan.channel, "template": plan.template,
                "to": mask_address(address) if plan.channel != "portal" else "portal",
                **({"skipped": plan.skipped_reason} if plan.skipped_reason else {})})
        return result
