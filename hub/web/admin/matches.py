"""Parked matches: inbox events whose references point at more than one return in a way that
is not a clear merge (docs/architecture.md, "Return identity"). An operator lists them and
resolves each by choosing one of the returns (or any other) or a new return; the choice is
stored (``match_decisions``), audit-logged, and the event is applied again.

The listing and resolving functions are shared by the API and the dashboard.
"""

from __future__ import annotations

from datetime import datetime  # noqa: TC003 (pydantic reads the annotation)
from typing import TYPE_CHECKING

from pydantic import Field
from sqlalchemy import select, update

from hub.identity import OWN_ID, lookup_references
from hub.processing.matching import AMBIGUOUS, IdentityResolver
from hub.store import references
from hub.store.engine import utcnow
from hub.store.models import InboxEvent, Return
from hub.web.admin import audit
from hub.web.admin.dead_letters import visible_inbox, wake_workers
from hub.web.admin.errors import ApiError, not_found
from hub.web.admin.ids import RowId
from hub.web.admin.paging import decode_cursor, encode_cursor
from hub.web.admin.routing import ApiRouter, Call
from hub.web.admin.schemas import IntId, Out, Page, PageQuery, Strict
from hub.web.admin.scoping import Scope

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from hub.runtime import Hub
    from hub.tokens import TokenInfo

router = ApiRouter(tag="matches")


class CandidateOut(Out):
    """A return a parked event's references point at."""

    return_id: int
    source: str = Field(description="The source the return was first heard of from.")
    external_id: str
    state: str
    via: list[str] = Field(description="The reference kinds that point at it.")


class ParkedMatchOut(Out):
    """An inbox event waiting for an operator to say which return it belongs to."""

    inbox_event_id: int
    source: str
    source_event_id: str
    event_type: str
    return_ref: str | None
    received_at: datetime
    reason: str | None
    candidates: list[CandidateOut]


class ResolveBody(Strict):
    """The operator's answer: ``return_id`` or ``new_return: true``, exactly one."""

    return_id: RowId | None = Field(None, description="The return the event belongs to.")
    new_return: bool = Field(False, description="The event is a return of its own.")


class ResolveResult(Out):
    """What resolving did: the event is back in the queue with the operator's choice."""

    inbox_event_id: int
    status: str = Field(description="pending: the event is applied again.")
    return_id: int | None
    new_return: bool


def resolver_of(hub: Hub) -> IdentityResolver:
    """The identity settings of the hub's sources (as the applier uses them)."""
    processor = hub.processor
    if processor is not None:
        return processor.applier.identity
    return IdentityResolver({name: spec.policy.identity_rules()
                             for name, spec in hub.specs.items()
                             if hasattr(spec.policy, "identity_rules")})


async def candidates(session: AsyncSession, hub: Hub, row: InboxEvent) -> list[CandidateOut]:
    """The returns the parked event's references point at now."""
    try:
        event = hub.codec.decode(row.payload_enc)
    except ValueError:
        return []
    resolver = resolver_of(hub)
    scope, refs = resolver.references(event)
    wanted = lookup_references(refs, resolver.rules_for(event.source))
    via: dict[int, list[str]] = {}
    for (kind, _value), ids in (await references.holders(session, scope, wanted)).items():
        for return_id in ids:
            via.setdefault(return_id, [])
            if kind not in via[return_id]:
                via[return_id].append(kind)
    if not via:
        return []
    rows = (await session.execute(select(Return).where(Return.id.in_(list(via)))
                                  .order_by(Return.id))).scalars()
    return [CandidateOut(return_id=r.id, source=r.source, external_id=r.external_id,
                         state=r.state, via=sorted(via[r.id])) for r in rows]


async def parked_page(session: AsyncSession, hub: Hub, scope: Scope, limit: int,
                      cursor: str | None) -> tuple[list[ParkedMatchOut], str | None]:
    """One page of parked matches, oldest first (the longest waiting)."""
    statement = select(InboxEvent).where(InboxEvent.status == AMBIGUOUS).order_by(
        InboxEvent.id).limit(limit + 1)
    if cursor:
        last = decode_cursor(cursor, int)[0]
        statement = statement.where(InboxEvent.id > last)
    rows = list((await session.execute(statement)).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    visible = await visible_inbox(session, scope, rows)
    items = [ParkedMatchOut(
        inbox_event_id=r.id, source=r.source, source_event_id=r.source_event_id,
        event_type=r.event_type, return_ref=r.return_ref, received_at=r.received_at,
        reason=r.last_error, candidates=await candidates(session, hub, r)) for r in visible]
    return items, (encode_cursor(rows[-1].id) if more and rows else None)


async def resolve(session: AsyncSession, hub: Hub, token: TokenInfo, inbox_id: int,
                  body: ResolveBody, now: datetime) -> ResolveResult:
    """Store the operator's choice and put the event back in the queue (inside the caller's
    transaction, with its audit entry)."""
    row = await session.get(InboxEvent, inbox_id)
    scope = Scope(hub, token)
    if row is None or not await visible_inbox(session, scope, [row]):
        raise not_found("inbox event")
    if row.status != AMBIGUOUS:
        raise ApiError(409, "not_parked", f"inbox event {inbox_id} is {row.status}, not a "
                       "parked match")
    if (body.return_id is None) == (not body.new_return):
        raise ApiError(422, "invalid_field", "return_id: give return_id or new_return: true "
                       "(exactly one)", field="return_id")
    if body.return_id is not None:
        if body.return_id not in await scope.check_return_ids(session, {body.return_id}) or \
                await session.get(Return, body.return_id) is None:
            raise ApiError(422, "invalid_field", "return_id: no such return", field="return_id")
    else:
        await _check_new(session, hub, row)
    await references.decide(session, inbox_id, body.return_id, token.name, now)
    await session.execute(update(InboxEvent).where(InboxEvent.id == inbox_id).values(
        status="pending", attempts=0, available_at=now, lease_owner=None, lease_until=None,
        last_error=None).execution_options(synchronize_session=False))
    audit.record(session, token, "match.resolve", f"inbox_event:{inbox_id}",
                 {"source": row.source, "return_id": body.return_id,
                  "new_return": body.new_return}, now)
    return ResolveResult(inbox_event_id=inbox_id, status="pending", return_id=body.return_id,
                         new_return=body.new_return)


async def _check_new(session: AsyncSession, hub: Hub, row: InboxEvent) -> None:
    """A new return needs the event's own return id, one no return holds yet."""
    event = hub.codec.decode(row.payload_enc)
    scope, refs = resolver_of(hub).references(event)
    own = [ref for ref in refs if ref.kind == OWN_ID]
    if not own:
        raise ApiError(422, "invalid_field", "new_return: the event names no return id of its "
                       "own; choose a return_id", field="new_return")
    if (await references.holders(session, scope, own)).get(own[0].key):
        raise ApiError(409, "already_linked", "new_return: a return already holds the event's "
                       "own id; choose that return_id")


@router.route("GET", "/api/matches", summary="Parked matches: events waiting for an operator "
              "to choose their return", scope="read", query=PageQuery,
              response=Page[ParkedMatchOut])
async def list_matches(call: Call) -> Page[ParkedMatchOut]:
    """Parked matches, the longest waiting first, with the returns each could belong to."""
    query: PageQuery = call.query
    async with call.hub.sessionmaker() as session:
        items, cursor = await parked_page(session, call.hub, Scope(call.hub, call.token),
                                          query.limit, query.cursor)
    return Page[ParkedMatchOut](items=items, next_cursor=cursor)


@router.route("POST", "/api/matches/{id}/resolve", summary="Resolve a parked match: choose "
              "its return or a new one; the event is applied again", scope="operate",
              path_model=IntId, body=ResolveBody, response=ResolveResult, audited=True,
              errors={404: "No such inbox event, or outside the token's limits.",
                      409: "The event is not a parked match, or a return already holds its "
                      "own id (new_return)."})
async def resolve_match(call: Call) -> ResolveResult:
    """Store the choice (audit-logged) and put the event back in the queue."""
    async with call.hub.sessionmaker() as session, session.begin():
        result = await resolve(session, call.hub, call.token, call.path.id, call.body,
                               utcnow())
    wake_workers(call.hub)
    return result

