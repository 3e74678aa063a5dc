"""Applying a batch of inbox events to returns, in one transaction.

For each event: find its return through its references (:mod:`hub.processing.matching`: the
platform's return id, an order number, a tracking number...), run the lifecycle state machine,
merge the event's data, record the timeline, and plan the notifications of a newly reached
stage. A carrier event whose tracking number no return has yet is *parked* and applied when a
return with that number arrives; an ambiguous match waits for an operator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from itertools import groupby
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, insert, select, update

from hub.content.context import details_from_event
from hub.delivery.planner import Contact
from hub.events import EVENT_TARGET, EventType, Lifecycle, Outcome, ReturnState
from hub.notifiable import NoticeGate, is_backfill
from hub.processing.customers import (
    contact_of,
    customer_identity,
    merge_customer,
    new_customer,
)
from hub.processing.matching import IdentityResolver
from hub.references import pick_reference
from hub.rules.context import rule_variables
from hub.rules.engine import Decision, target_state
from hub.store.codec import EventCodec
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
    from collections.abc import Callable, Iterable

    from sqlalchemy import Table
    from sqlalchemy.ext.asyncio import AsyncSession

    from hub.delivery.planner import Planner
    from hub.events import ReturnEvent
    from hub.rules.engine import RuleEngine
    from hub.security import PiiCipher


#: Keys of an event's ``extra`` that name the return's region, in order of preference.
REGION_KEYS = ("region", "shipping_country", "country")

_RETURNS: Table = Return.__table__
_CUSTOMERS: Table = Customer.__table__
_INBOX: Table = InboxEvent.__table__

# The batch's statements, built once: on small batches, building them took longer than running
# them. Lists of values go in as expanding parameters.
_RETURNS_BY_ID = (select(_RETURNS).where(_RETURNS.c.id.in_(bindparam("ids", expanding=True)))
                  .order_by(_RETURNS.c.id))
_CUSTOMERS_BY_IDENTITY_OR_ID = select(_CUSTOMERS).where(
    _CUSTOMERS.c.identity.in_(bindparam("identities", expanding=True))
    | _CUSTOMERS.c.id.in_(bindparam("ids", expanding=True)))
_INSERT_TIMELINE = insert(TimelineEntry.__table__)
_INBOX_DONE = update(_INBOX).where(_INBOX.c.id.in_(bindparam("ids", expanding=True))).values(
    status="done", processed_at=bindparam("now", type_=_INBOX.c.processed_at.type),
    lease_owner=None, lease_until=None, last_error=None)
_INBOX_PARKED = update(_INBOX).where(_INBOX.c.id.in_(bindparam("ids", expanding=True))).values(
    status="parked", lease_owner=None, lease_until=None,
    last_error="no return with this tracking number yet")
_INBOX_UNPARKED = update(_INBOX).where(
    _INBOX.c.status == "parked", _INBOX.c.tracking_number.in_(bindparam("numbers", expanding=True))
).values(status="pending", available_at=bindparam("now", type_=_INBOX.c.available_at.type),
         last_error=None)


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


class RowState:
    """One row of a table as plain attributes (its columns), remembering the values it was
    loaded with so that only changed columns are written back. What the ORM's unit of work
    did for the applier, without its instrumentation, identity map and flush machinery."""

    __slots__ = ("__dict__", "_loaded")

    def __init__(self, values: dict[str, Any], *, new: bool = False) -> None:
        self.__dict__.update(values)
        self._loaded = None if new else dict(values)

    @property
    def is_new(self) -> bool:
        """Whether the row is not in the database yet."""
        return self._loaded is None

    def changes(self) -> dict[str, Any]:
        """The columns whose value differs from the loaded one."""
        loaded = self._loaded
        return {key: value for key, value in self.__dict__.items() if loaded[key] != value}

    def insert_values(self) -> dict[str, Any]:
        """Every column but the id, which the database assigns."""
        return {key: value for key, value in self.__dict__.items() if key != "id"}

    def mark_saved(self) -> None:
        """The current values are what the database holds now."""
        self._loaded = dict(self.__dict__)


class _RecentPlaintexts:
    """The PII cipher, remembering for one batch the plaintext of each token it made or
    opened: the applier reads back details and contact data it encrypted moments earlier,
    and a remembered token costs no Fernet decryption. Forgotten by :meth:`clear`."""

    def __init__(self, cipher: PiiCipher) -> None:
        self._cipher = cipher
        self._plain: dict[bytes, bytes] = {}

    def clear(self) -> None:
        """Forget every plaintext (no PII is kept between batches)."""
        self._plain.clear()

    def encrypt(self, plaintext: str | bytes | None) -> bytes | None:
        """Like :meth:`PiiCipher.encrypt`."""
        token = self._cipher.encrypt(plaintext)
        if token is not None:
            self._plain[token] = plaintext.encode() if isinstance(plaintext, str) else plaintext
        return token

    def decrypt_bytes(self, token: bytes | None) -> bytes | None:
        """Like :meth:`PiiCipher.decrypt_bytes`."""
        if token is None:
            return None
        plain = self._plain.get(token)
        if plain is None:
            plain = self._plain[token] = self._cipher.decrypt_bytes(token)
        return plain

    def decrypt(self, token: bytes | None) -> str | None:
        """Like :meth:`PiiCipher.decrypt`."""
        data = self.decrypt_bytes(token)
        return None if data is None else data.decode()

    def lookup_hash(self, value: str | None) -> str | None:
        """Like :meth:`PiiCipher.lookup_hash`."""
        return self._cipher.lookup_hash(value)


@dataclass(slots=True)
class _Work:
    item: ClaimedEvent
    ret: RowState
    outcome: Outcome
    from_state: str | None
    stage: str | None
    decision: Decision | None = None
    #: The state the event itself reached, when a rule then moved the return on.
    event_state: str | None = None


class BatchApplier:
    """Applies claimed events to returns; see the module docstring.

    Returns and customers are read and written with Core statements on their tables (rows
    as :class:`RowState`), not as ORM entities: this is the hub's hottest path."""

    def __init__(self, codec: EventCodec, planner: Planner,
                 rules: RuleEngine | None = None, gate: NoticeGate | None = None,
                 identity: IdentityResolver | None = None) -> None:
        self.codec = codec
        #: Whether an event may notify (backfilled history and stale events do not).
        self.gate = gate or NoticeGate(planner.settings)
        self.identity = identity or IdentityResolver()
        self.cipher = codec.cipher
        self.planner = planner
        self.rules = rules
        self._plaintexts = _RecentPlaintexts(codec.cipher)
        #: ``codec`` over the remembering cipher, for the returns' encrypted details.
        self._details = EventCodec(self._plaintexts)

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
        returns = await self._load_returns(session, placed.existing())
        customers = await self._load_customers(session, items, returns)
        owners: dict[int, RowState] = {}  # id(return) -> its customer row in this batch
        work: list[_Work] = []
        new_tracking: set[str] = set()
        for item in items:
            event = item.event
            target = placed.targets.get(item.inbox_id)
            if target is None:  # parked, deferred or unmatchable: in ``report``/``placed``
                continue
            ret = returns.get(target)
            if ret is None:
                ret = returns[target] = _new_return(event, now)
            current = ReturnState(ret.state) if ret.state else None
            transition = Lifecycle.apply(current, event.type)
            old_tracking = ret.tracking_number
            self._merge_fields(ret, event, transition.outcome, now)
            if ret.tracking_number and ret.tracking_number != old_tracking:
                new_tracking.add(ret.tracking_number)
            if event.return_id and event.tracking and event.tracking.number:
                new_tracking.add(event.tracking.number)  # linked: a late event keeps the column
            self._merge_customer(ret, event, customers, owners, now)
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
            if self.rules is not None and transition.outcome in (Outcome.MOVED, Outcome.FLAGGED) \
                    and not is_backfill(event):  # history decides nothing upstream
                self._run_rules(unit)
            work.append(unit)
            report.done.append(item.inbox_id)
        await self._save(session, returns, customers, owners, work)
        await self.identity.link(session, placed,
                                 {u.item.inbox_id: u.ret.id for u in work}, now)
        for unit in work:
            customer = owners.get(id(unit.ret)) or customers.get(unit.ret.customer_id)
            self._record(unit, report, customer, now)
        await self._write(session, report, new_tracking, now)
        return report

    def _run_rules(self, unit: _Work) -> None:
        """Evaluate the rules; apply a rule's approve/decline/hold to the return at once."""
        if self.rules.empty:  # nothing to decide: skip building the rules' variables
            unit.decision = Decision()
            return
        ret, event = unit.ret, unit.item.event
        details = self._details.decode_json(ret.details_enc) or {}
        unit.decision = decision = self.rules.evaluate(rule_variables(
            event, ret, state=unit.from_state, stage=unit.stage,
            items=details.get("items", []), tags=details.get("tags", [])))
        if decision.tags:
            details["tags"] = sorted({*details.get("tags", []), *decision.tags})
            ret.details_enc = self._details.encode_json(details)
        if decision.transition is None:
            return
        target = target_state(decision.transition)
        moved = Lifecycle.apply(ReturnState(ret.state),
                                next(t for t, s in EVENT_TARGET.items() if s is target))
        if moved.outcome is Outcome.MOVED:
            unit.event_state = ret.state
            ret.state = moved.to_state.value
            unit.stage = ret.state

    async def _load_returns(self, session: AsyncSession, ids: set[int]) -> dict:
        """The batch's existing returns, locked, by database id."""
        if not ids:
            return {}
        rows = await _locked_rows(session, _RETURNS_BY_ID, {"ids": sorted(ids)}, {})
        return {row.id: row for row in rows}

    async def _load_customers(self, session: AsyncSession, items: list[ClaimedEvent],
                              returns: dict) -> dict:
        """The customers of the batch's events and returns, by identity and by id."""
        identities = {customer_identity(i.event.source, i.event.customer, self.cipher)
                      for i in items} - {None}
        ids = {r.customer_id for r in returns.values() if r.customer_id}
        found: dict[Any, RowState] = {}
        if identities or ids:
            result = await session.execute(_CUSTOMERS_BY_IDENTITY_OR_ID,
                                           {"identities": list(identities), "ids": list(ids)})
            for values in result.mappings():
                row = RowState(dict(values))
                found[row.identity] = row
                found[row.id] = row
        return found

    def _merge_fields(self, ret: RowState, event: ReturnEvent, outcome: Outcome,
                      now: datetime) -> None:
        """Newer events overwrite fields; older (late) ones only fill what is still empty."""
        newer = ret.last_event_at is None or event.occurred_at >= ret.last_event_at

        def put(attr: str, value: Any) -> None:
            if value is not None and (newer or getattr(ret, attr) is None):
                setattr(ret, attr, value)

        put("order_ref", event.order_id)
        put("order_number", event.order_number)
        put("customer_reference",
            pick_reference(event, self.gate.policy(event.source).customer_reference))
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
            details = self._details.decode_json(ret.details_enc) or {}
            if event.items and (newer or "items" not in details):
                details["items"] = [item.model_dump(mode="json") for item in event.items]
            for key, value in found.items():
                if newer or key not in details:
                    details[key] = value
            ret.details_enc = self._details.encode_json(details)
        if newer:
            ret.last_event_at = event.occurred_at
        ret.updated_at = now

    def _merge_customer(self, ret: RowState, event: ReturnEvent, customers: dict, owners: dict,
                        now: datetime) -> None:
        if event.customer is None:
            return
        row = owners.get(id(ret)) or (customers.get(ret.customer_id) if ret.customer_id else None)
        if row is None:
            identity = customer_identity(event.source, event.customer, self.cipher)
            row = customers.get(identity)
            if row is None and identity:
                row = customers[identity] = RowState(new_customer(identity, now), new=True)
        if row is None:
            return
        merge_customer(row, event.customer, self._plaintexts, now)
        owners[id(ret)] = row

    async def _save(self, session: AsyncSession, returns: dict, customers: dict, owners: dict,
                    work: list[_Work]) -> None:
        """Write new and changed customers, then returns (which refer to them), in the order
        the ORM's flush used: each table's updates in id order, then its inserts."""
        await _save_rows(session, _CUSTOMERS, _unique(customers.values()), ("identity",))
        for unit in work:
            owner = owners.get(id(unit.ret))
            if owner is not None:
                unit.ret.customer_id = owner.id
        await _save_rows(session, _RETURNS, _unique(returns.values()), ("source", "external_id"))

    def _record(self, unit: _Work, report: ApplyReport, customer: RowState | None,
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
        verdict = self.gate.verdict(item.event, unit.stage, item.received_at)
        if not verdict.notify:
            report.timeline.append(self._entry(ret, item, now, kind="notification",
                                               outcome="withheld", detail={
                                                   "stage": unit.stage, "reason": verdict.reason}))
            return
        planned = self.planner.plan(
            return_id=ret.id, cycle=ret.cycle, stage=unit.stage,
            contact=contact_of(customer, self._plaintexts),
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
                           "source": item.event.source,
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
                                            "rule": decision.transition_rule}))
        rule = decision.transition_rule
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
    def _action(ret: RowState, rule: str | None, action: str, params: dict, now: datetime, *,
                key: str | None = None) -> dict:
        return {"idempotency_key": f"{ret.id}:{ret.cycle}:{key or action}", "return_id": ret.id,
                "rule": rule or "", "action": action, "params": params, "status": "pending",
                "attempts": 0, "next_attempt_at": now, "created_at": now}

    @staticmethod
    def _entry(ret: RowState, item: ClaimedEvent, now: datetime, *, kind: str, outcome: str,
               detail: dict, from_state: str | None = None, to_state: str | None = None) -> dict:
        return {"return_id": ret.id, "kind": kind, "outcome": outcome,
                "event_type": item.event.type.value, "from_state": from_state,
                "to_state": to_state, "inbox_event_id": item.inbox_id, "notification_id": None,
                "detail": {**detail, "source": item.event.source}, "occurred_at": now,
                "recorded_at": now}

    async def _write(self, session: AsyncSession, report: ApplyReport, new_tracking: set[str],
                     now: datetime) -> None:
        if report.notifications:
            await session.execute(_insert_ignoring_conflicts(session, Notification.__table__),
                                  report.notifications)
        if report.timeline:
            await session.execute(_INSERT_TIMELINE, report.timeline)
        if report.actions:
            await session.execute(_insert_ignoring_conflicts(session, RuleAction.__table__),
                                  report.actions)
        if report.done:
            await session.execute(_INBOX_DONE, {"ids": report.done, "now": now})
        if report.parked:
            await session.execute(_INBOX_PARKED, {"ids": report.parked})
        if report.unmatchable:
            await session.execute(_update_by_id(_INBOX), [
                {"row_id": inbox_id, "status": "failed", "lease_owner": None,
                 "lease_until": None, "last_error": reason}
                for inbox_id, reason in report.unmatchable.items()])
        if new_tracking:
            # Carrier scans that arrived before their return can be applied now.
            await session.execute(_INBOX_UNPARKED, {"numbers": list(new_tracking), "now": now})


def _new_return(event: ReturnEvent, now: datetime) -> RowState:
    """A return first heard of through ``event``, not in the database yet."""
    values = dict.fromkeys(_RETURNS.c.keys())
    values.update(source=event.source, external_id=event.return_id, state="", cycle=0,
                  exception_flag=False, created_at=now, updated_at=now)
    return RowState(values, new=True)


def _unique(rows: Iterable[RowState]) -> list[RowState]:
    """``rows`` without repeats (a row is indexed under several keys), in first-seen order."""
    return list({id(row): row for row in rows}.values())


async def _locked_rows(session: AsyncSession, query: Any, params: dict[str, Any],
                       by_id: dict[int, RowState]) -> list[RowState]:
    """Run ``query`` with ``FOR UPDATE`` where the backend has it; a row already in ``by_id``
    is returned as that same object."""
    rows = []
    result = await session.execute(_per_backend(session, query, lock_for_update), params)
    for values in result.mappings():
        row = by_id.get(values["id"])
        if row is None:
            row = by_id[values["id"]] = RowState(dict(values))
        rows.append(row)
    return rows


#: Statements adapted to a backend (``FOR UPDATE``, ``ON CONFLICT``), by (what, backend).
_BACKEND_STATEMENTS: dict[tuple[Any, str], Any] = {}


def _per_backend(session: AsyncSession, what: Any,
                 adapt: Callable[[AsyncSession, Any], Any]) -> Any:
    """``adapt(session, what)``, built once per backend and reused."""
    key = (what, session.bind.dialect.name)
    statement = _BACKEND_STATEMENTS.get(key)
    if statement is None:
        statement = _BACKEND_STATEMENTS[key] = adapt(session, what)
    return statement


def _insert_ignoring_conflicts(session: AsyncSession, table: Table) -> Any:
    """``INSERT ... ON CONFLICT (idempotency_key) DO NOTHING`` into ``table``."""
    return _per_backend(session, table,
                        lambda s, t: insert_ignoring_conflicts(s, t, "idempotency_key"))


@cache
def _update_by_id(table: Table) -> Any:
    """``UPDATE table SET <the parameters' columns> WHERE id = :row_id`` (for executemany)."""
    return update(table).where(table.c.id == bindparam("row_id"))


@cache
def _insert_returning_keys(table: Table, key: tuple[str, ...]) -> Any:
    """``INSERT ... RETURNING id, <key>``. Rows come back in any order, matched to theirs by
    ``key`` (unique): asking for the parameters' order instead makes SQLAlchemy send one
    INSERT per row on SQLite."""
    return insert(table).returning(table.c.id, *(table.c[name] for name in key))


async def _save_rows(session: AsyncSession, table: Table, rows: list[RowState],
                     key: tuple[str, ...]) -> None:
    """Update the changed columns of loaded rows (one executemany per run of rows changing
    the same columns, in id order so that concurrent writers lock rows in the same order),
    then insert the new rows and give them their ids (found by the unique columns ``key``)."""
    changed = sorted(((row.id, row.changes()) for row in rows if not row.is_new),
                     key=lambda pair: pair[0])
    for _, run in groupby((pair for pair in changed if pair[1]), key=lambda pair: pair[1].keys()):
        await session.execute(_update_by_id(table),
                              [{"row_id": row_id, **values} for row_id, values in run])
    new = [row for row in rows if row.is_new]
    if new:
        result = await session.execute(_insert_returning_keys(table, key),
                                       [row.insert_values() for row in new])
        ids = {tuple(found[1:]): found[0] for found in result}
        for row in new:
            row.id = ids[tuple(getattr(row, name) for name in key)]
    for row in rows:
        row.mark_saved()
