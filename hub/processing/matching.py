"""Finding each claimed event's return through its references, for one batch of the applier.

Runs before the batch's returns are loaded: reads the references the batch's events name and
the returns holding them, decides with :func:`hub.identity.decide`, merges returns
found to be one, and says which return (a database id, or ``("new", n)`` for one the batch
creates) each event applies to. Events it cannot place are parked (``parked``: waiting for
their tracking number; ``ambiguous``: waiting for an operator, see the admin API's
``/api/matches``) or deferred (put back in the queue, applied after this batch commits: their
match depends on a return this batch is creating).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, update

from hub.identity import (
    SHARED_KINDS,
    IdentityRules,
    Match,
    Reference,
    decide,
    lookup_references,
    references_of,
)
from hub.store import merging, references
from hub.store.models import InboxEvent

if TYPE_CHECKING:
    from collections.abc import Hashable, Mapping
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncSession

    from hub.processing.applier import ApplyReport, ClaimedEvent

#: The inbox status of an event parked for an operator (an ambiguous match).
AMBIGUOUS = "ambiguous"
_INBOX = InboxEvent.__table__
_INBOX_AMBIGUOUS = update(_INBOX).where(_INBOX.c.id == bindparam("row_id")).values(
    status=AMBIGUOUS, lease_owner=None, lease_until=None, last_error=bindparam("reason"))
_INBOX_DEFERRED = update(_INBOX).where(_INBOX.c.id.in_(bindparam("ids", expanding=True))).values(
    status="pending", lease_owner=None, lease_until=None,
    available_at=bindparam("now", type_=_INBOX.c.available_at.type))


@dataclass(slots=True)
class Resolution:
    """Where each event of a batch goes."""

    #: inbox id → a return's database id, or ``("new", n)``.
    targets: dict[int, Hashable] = field(default_factory=dict)
    #: inbox id → (scope, the event's references), linked to its return once saved.
    links: dict[int, tuple[str, list[Reference]]] = field(default_factory=dict)
    ambiguous: dict[int, str] = field(default_factory=dict)
    deferred: list[int] = field(default_factory=list)

    def existing(self) -> set[int]:
        """The database ids of the returns the batch applies to."""
        return {t for t in self.targets.values() if isinstance(t, int)}


class IdentityResolver:
    """Matches events to returns by reference; see the module docstring."""

    def __init__(self, rules: Mapping[str, IdentityRules] | None = None) -> None:
        self.rules = dict(rules or {})
        self.default = IdentityRules()

    def rules_for(self, source: str) -> IdentityRules:
        """The identity settings of ``source`` (the defaults for an unconfigured one)."""
        return self.rules.get(source, self.default)

    def references(self, event: Any) -> tuple[str, list[Reference]]:
        """The scope and references of one event."""
        rules = self.rules_for(event.source)
        return rules.scope, references_of(event, rules)

    async def resolve(self, session: AsyncSession, items: list[ClaimedEvent],
                      report: ApplyReport, now: datetime) -> Resolution:
        """Place every event of the batch (inside the caller's transaction); events that wait
        for their tracking number or are unmatchable go in ``report``."""
        batch = _Batch(self, session, now)
        await batch.load(items)
        resolution = Resolution()
        for item in items:
            await batch.place(item, resolution, report)
        resolution.targets = {i: batch.final(t) for i, t in resolution.targets.items()}
        return resolution

    async def link(self, session: AsyncSession, resolution: Resolution,
                   ids: Mapping[int, int], now: datetime) -> None:
        """Give each applied event's return the event's references (``ids``: inbox id →
        the return's database id, new ones included), then park what needs an operator."""
        rows: dict[tuple[str, int, str, str], Reference] = {}
        for inbox_id, (scope, refs) in resolution.links.items():
            return_id = ids.get(inbox_id)
            if return_id is not None:
                for ref in refs:
                    rows.setdefault((scope, return_id, *ref.key), ref)
        await references.link(session, [(key[0], key[1], ref)
                                        for key, ref in sorted(rows.items())], now)
        if resolution.ambiguous:
            await session.execute(_INBOX_AMBIGUOUS, [
                {"row_id": inbox_id, "reason": reason}
                for inbox_id, reason in resolution.ambiguous.items()])
        if resolution.deferred:
            await session.execute(_INBOX_DEFERRED, {"ids": resolution.deferred, "now": now})


class _Batch:
    """One batch's view of the references: the database's plus what earlier events of the
    batch linked, and the merges made so far."""

    def __init__(self, resolver: IdentityResolver, session: AsyncSession,
                 now: datetime) -> None:
        self.resolver = resolver
        self.session = session
        self.now = now
        self.refs: dict[int, tuple[str, list[Reference]]] = {}
        self.holders: dict[tuple[str, str, str], list[Hashable]] = defaultdict(list)
        self.held: dict[Hashable, list[Reference]] = defaultdict(list)
        self.decisions: dict[int, int | None] = {}
        self.merged_into: dict[int, int] = {}
        self.new_count = 0

    async def load(self, items: list[ClaimedEvent]) -> None:
        by_scope: dict[str, list[Reference]] = defaultdict(list)
        lookups: dict[str, list[Reference]] = defaultdict(list)
        for item in items:
            scope, refs = self.refs[item.inbox_id] = self.resolver.references(item.event)
            by_scope[scope].extend(refs)
            lookups[scope].extend(lookup_references(
                refs, self.resolver.rules_for(item.event.source)))
        returns: set[int] = set()
        # Only what finds a return can race (two workers creating it); a reference that is
        # only linked is settled by its unique key.
        for scope, refs in sorted(lookups.items()):
            await references.lock(self.session, scope, refs)
        for scope, refs in by_scope.items():
            for (kind, value), ids in (await references.holders(self.session, scope,
                                                                refs)).items():
                self.holders[(scope, kind, value)].extend(ids)
                returns.update(ids)
        self.decisions = await references.decisions(self.session, self.refs)
        returns.update(r for r in self.decisions.values() if r is not None)
        for return_id, refs in (await references.of_returns(self.session, returns)).items():
            self.held[return_id].extend(refs)

    def final(self, target: Hashable) -> Hashable:
        """``target``, or the return it was merged into."""
        while target in self.merged_into:
            target = self.merged_into[target]
        return target

    async def place(self, item: ClaimedEvent, resolution: Resolution,
                    report: ApplyReport) -> None:
        inbox_id = item.inbox_id
        scope, refs = self.refs[inbox_id]
        if inbox_id in self.decisions:
            match = self._decided(inbox_id)
        else:
            view = {ref.key: list(dict.fromkeys(self.final(h) for h in
                                                self.holders.get((scope, *ref.key), ())))
                    for ref in refs}
            match = decide(refs, self.resolver.rules_for(item.event.source), view, self.held)
        if match.kind in ("merge", "ambiguous") and any(
                not isinstance(c, int) for c in match.candidates):
            resolution.deferred.append(inbox_id)  # decided once the new return is saved
            return
        if match.kind == "wait":
            report.parked.append(inbox_id)
            return
        if match.kind == "unmatchable":
            report.unmatchable[inbox_id] = ("the event names no return and no reference to find "
                                            "one by (enrichment did not find the return)")
            return
        if match.kind == "ambiguous":
            resolution.ambiguous[inbox_id] = _ambiguity(match)
            return
        if match.kind == "merge":
            for gone in match.absorbed:
                await merging.merge(self.session, match.target, gone, self.now,
                                    {"inbox_event_id": inbox_id, "by": item.event.source})
                self.merged_into[gone] = match.target
                self.held[match.target].extend(self.held.pop(gone, []))
        target = match.target
        if match.kind == "new":
            self.new_count += 1
            target = ("new", self.new_count)
        resolution.targets[inbox_id] = target
        resolution.links[inbox_id] = (scope, refs)
        for ref in refs:
            holders = self.holders[(scope, *ref.key)]
            owners = {self.final(h) for h in holders}
            if ref.kind in SHARED_KINDS or not owners - {target}:
                if target not in owners:
                    holders.append(target)
                    self.held[target].append(ref)

    def _decided(self, inbox_id: int) -> Match:
        chosen = self.decisions[inbox_id]
        if chosen is None:
            return Match("new")
        chosen = self.final(chosen)
        if chosen not in self.held:
            return Match("ambiguous", reason=f"the chosen return {chosen} no longer exists")
        return Match("existing", target=chosen)


def _ambiguity(match: Match) -> str:
    """The parked event's stored reason: ids and kinds only, never a reference's value."""
    ids = ", ".join(str(c) for c in match.candidates)
    return f"ambiguous match: {match.reason}" + (f" (returns {ids})" if ids else "")
