"""Applying a batch of inbox events to returns, in one transaction.

For each event: find its return through its references (:mod:`hub.processing.matching`: the
platform's return id, an order number, a tracking number...), then let the domain decide what
the event does (:func:`hub.domain.decide.decide`: the lifecycle, merged fields, the rules,
whether the stage may notify) and what it leaves behind (:func:`hub.domain.effects.effects_of`:
timeline, outbox rows, upstream actions); the store loads and writes the batch
(:mod:`hub.store.returns_repo`). A carrier event whose tracking number no return has yet is
*parked* and applied when a return with that number arrives; an ambiguous match waits for an
operator.

Notifications that are due at once and first in line for their return and channel are written
leased to this process's dispatcher and handed to it in memory after the commit
(:mod:`hub.store.handoff`), with the return and customer rows the batch holds: the dispatcher
sends them without claiming them and reading them back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hub.domain.customers import customer_identity
from hub.domain.decide import decide
from hub.domain.effects import effects_of
from hub.notifiable import NoticeGate
from hub.processing.matching import IdentityResolver
from hub.store.codec import EventCodec, RecentPlaintexts
from hub.store.inbox import ClaimedEvent
from hub.store.outbox import Claimed, planned_snapshot, unfinished_channels
from hub.store.returns_repo import ReturnsBatch, write_batch

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncSession

    from hub.domain.decide import Decided
    from hub.domain.planner import Planner
    from hub.rules.engine import RuleEngine
    from hub.store.handoff import Handoff


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
    #: Notifications leased to the local dispatcher, for it once the batch has committed.
    handed: list[tuple[datetime, Claimed]] = field(default_factory=list)


class BatchApplier:
    """Applies claimed events to returns: loads the batch, asks the domain, stores the
    results; see the module docstring."""

    def __init__(self, codec: EventCodec, planner: Planner,
                 rules: RuleEngine | None = None, gate: NoticeGate | None = None,
                 identity: IdentityResolver | None = None) -> None:
        self.codec = codec
        #: Whether an event may notify (backfilled history and stale events do not).
        self.gate = gate or NoticeGate(planner.settings)
        self.identity = identity or IdentityResolver()
        self.cipher = codec.cipher
        self.rules = rules
        self._plaintexts = RecentPlaintexts(codec.cipher)
        #: ``planner``, remembering the recipients it encrypts (handed over with the rows).
        self.planner = planner.encrypting_with(self._plaintexts)
        #: ``codec`` over the remembering cipher, for the returns' encrypted details.
        self._details = EventCodec(self._plaintexts)
        #: The local dispatcher's hand-off, and which planned rows it may take in memory.
        self.dispatch: Handoff[Claimed] | None = None
        self.dispatchable: Callable[[dict], bool] = lambda _row: True

    async def apply(self, session: AsyncSession, items: list[ClaimedEvent],
                    now: datetime) -> ApplyReport:
        """Apply ``items`` inside the caller's transaction. Raises on a database error; the
        caller then retries the events one by one to isolate a poison event."""
        self._plaintexts.clear()
        try:
            return await self._apply(session, items, now)
        finally:
            self._plaintexts.clear()

    async def _apply(self, session: AsyncSession, items: list[ClaimedEvent],
                     now: datetime) -> ApplyReport:
        report = ApplyReport()
        placed = await self.identity.resolve(session, items, report, now)
        identities = {item.inbox_id: customer_identity(item.event.source, item.event.customer,
                                                       self.cipher) for item in items}
        batch = ReturnsBatch(self._details)
        await batch.load(session, placed.existing(), set(identities.values()) - {None})
        decided: list[tuple[ClaimedEvent, Hashable, Decided]] = []
        new_tracking: set[str] = set()
        for item in items:
            target = placed.targets.get(item.inbox_id)
            if target is None:  # parked, deferred or unmatchable: in ``report``/``placed``
                continue
            one = decide(batch.return_of(target),
                         batch.customer_of(target, identities[item.inbox_id]), item.event,
                         rules=self.rules, gate=self.gate, cipher=self.cipher, now=now,
                         received_at=item.received_at)
            batch.update(target, one.ret, one.customer)
            new_tracking |= one.new_tracking
            decided.append((item, target, one))
            report.done.append(item.inbox_id)
        ids = await batch.save(session, now)
        await self.identity.link(session, placed,
                                 {item.inbox_id: ids[target] for item, target, _ in decided}, now)
        for item, target, one in decided:
            effects = effects_of(one, planner=self.planner, return_id=ids[target],
                                 inbox_event_id=item.inbox_id, now=now)
            report.timeline += effects.timeline
            report.notifications += effects.notifications
            report.actions += effects.actions
        leased = await self._lease_for_dispatch(session, report.notifications, now)
        inserted = await write_batch(
            session, notifications=report.notifications, timeline=report.timeline,
            actions=report.actions, done=report.done, parked=report.parked,
            unmatchable=report.unmatchable, new_tracking=new_tracking, now=now)
        for row in leased:
            if row["id"] in inserted:  # not a duplicate of a message planned before
                ret, customer = batch.saved_rows(row["return_id"])
                held = self._plaintexts.held(row["recipient_enc"], ret.details_enc,
                                             customer.name_enc if customer else None)
                report.handed.append((row["lease_until"], Claimed(
                    planned_snapshot(row), ret, customer, prior_status="pending",
                    plaintexts=held)))
        return report

    async def _lease_for_dispatch(self, session: AsyncSession, notifications: list[dict],
                                  now: datetime) -> list[dict]:
        """Lease to the local dispatcher the planned rows it may take in memory: due now and
        first in line for their return and channel (none earlier unfinished, in the store or
        in this batch), as its claim would have leased them."""
        handoff = self.dispatch
        due = [row for row in notifications
               if row["next_attempt_at"] <= now and self.dispatchable(row)]
        lease_until = handoff.lease_for(len(due), now) if handoff is not None and due else None
        if lease_until is None:
            return []
        busy = await unfinished_channels(session, {row["return_id"] for row in due})
        due_ids = {row["id"] for row in due}
        leased = []
        for row in notifications:  # in planning order: an earlier one holds back a later one
            key = (row["return_id"], row["channel"])
            if key not in busy and row["id"] in due_ids:
                row.update(status="sending", lease_owner=handoff.owner, lease_until=lease_until)
                leased.append(row)
            busy.add(key)
        return leased

    def hand_off(self, report: ApplyReport) -> None:
        """After the batch's commit: give its leased notifications to the local dispatcher."""
        if report.handed and self.dispatch is not None:
            self.dispatch.put(report.handed)
