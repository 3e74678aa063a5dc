"""Returns: search, one return, and its full timeline."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from hub.store.models import (
    Customer,
    DeliveryAttempt,
    DeliveryReceipt,
    Notification,
    Return,
    TimelineEntry,
)
from hub.store.references import inbox_events_about
from hub.web.admin.paging import before, decode_cursor, encode_cursor
from hub.web.admin.routing import ApiRouter, Call
from hub.web.admin.schemas import (
    IntId,
    Page,
    ReturnDetail,
    ReturnSearch,
    ReturnSummary,
    ReturnTimeline,
)
from hub.web.admin.scoping import Scope
from hub.web.admin.serialize import (
    inbox_event,
    notification_detail,
    return_detail,
    return_summary,
    timeline_item,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from hub.runtime import Hub

router = ApiRouter(tag="returns")


def _filters(hub: Hub, search: ReturnSearch) -> list[Any]:
    conditions: list[Any] = []
    if search.reference:
        conditions.append(Return.external_id == search.reference)
    if search.order_number:
        conditions.append(Return.order_number == search.order_number)
    if search.source:
        conditions.append(Return.source == search.source)
    if search.state:
        conditions.append(Return.state.in_([s.value for s in search.state]))
    if search.created_from:
        conditions.append(Return.created_at >= search.created_from)
    if search.created_to:
        conditions.append(Return.created_at < search.created_to)
    if search.email:
        conditions.append(Return.customer_id.in_(select(Customer.id).where(
            Customer.email_hash == hub.cipher.lookup_hash(search.email))))
    if search.phone:
        conditions.append(Return.customer_id.in_(select(Customer.id).where(
            Customer.phone_hash == hub.cipher.lookup_hash(search.phone))))
    return conditions


async def search_returns(session: AsyncSession, hub: Hub, scope: Scope,
                         search: ReturnSearch) -> Page[ReturnSummary]:
    """One page of returns matching ``search`` that the token may see, newest first."""
    conditions = _filters(hub, search)
    last_id = decode_cursor(search.cursor, int)[0] if search.cursor else None
    wanted = search.limit + 1
    found: list[Return] = []
    while len(found) < wanted:
        statement = select(Return).where(*conditions).order_by(Return.id.desc()).limit(wanted)
        if last_id is not None:
            statement = statement.where(before((Return.id,), (last_id,)))
        batch = list((await session.execute(statement)).scalars())
        if not batch:
            break
        found.extend(await scope.visible(session, batch))
        last_id = batch[-1].id
        if len(batch) < wanted:
            break
    more = len(found) > search.limit
    page = found[:search.limit]
    facets = await scope.facets(session, page)
    return Page[ReturnSummary](
        items=[return_summary(ret, facets[ret.id]) for ret in page],
        next_cursor=encode_cursor(page[-1].id) if more and page else None)


@router.route("GET", "/api/returns", summary="Search returns", scope="read", query=ReturnSearch,
              response=Page[ReturnSummary])
async def list_returns(call: Call) -> Page[ReturnSummary]:
    """Search by reference, order number, source, customer email or phone, state and dates."""
    async with call.hub.sessionmaker() as session:
        return await search_returns(session, call.hub, Scope(call.hub, call.token), call.query)


@router.route("POST", "/api/returns/search", summary="Search returns (filters in the body, "
              "so that an email never appears in a URL)", scope="read", body=ReturnSearch,
              response=Page[ReturnSummary])
async def search_returns_post(call: Call) -> Page[ReturnSummary]:
    """The same search as ``GET /api/returns`` with the filters as a JSON body."""
    async with call.hub.sessionmaker() as session:
        return await search_returns(session, call.hub, Scope(call.hub, call.token), call.body)


@router.route("GET", "/api/returns/{id}", summary="One return", scope="read", path_model=IntId,
              response=ReturnDetail, errors={404: "No such return, or outside the token's "
                                                  "limits."})
async def get_return(call: Call) -> ReturnDetail:
    """A return with its items."""
    scope = Scope(call.hub, call.token)
    async with call.hub.sessionmaker() as session:
        ret = await scope.get_return(session, call.path.id)
        facets = await scope.facets(session, [ret])
    return return_detail(ret, facets[ret.id], call.hub.codec)


async def load_timeline(session: AsyncSession, hub: Hub, scope: Scope,
                        ret: Return) -> ReturnTimeline:
    """Everything about ``ret``: timeline entries, inbox events, notifications with attempts
    and receipts."""
    entries = list((await session.execute(select(TimelineEntry).where(
        TimelineEntry.return_id == ret.id).order_by(TimelineEntry.id))).scalars())
    # Every system's events: those applied to it (any source, merged returns' too).
    events = await inbox_events_about(session, [ret])
    notifications = list((await session.execute(select(Notification).where(
        Notification.return_id == ret.id).order_by(Notification.created_at,
                                                    Notification.id))).scalars())
    ids = [n.id for n in notifications]
    attempts: dict[str, list[DeliveryAttempt]] = {i: [] for i in ids}
    receipts: dict[str, list[DeliveryReceipt]] = {i: [] for i in ids}
    if ids:
        for attempt in (await session.execute(select(DeliveryAttempt).where(
                DeliveryAttempt.notification_id.in_(ids)).order_by(DeliveryAttempt.id))).scalars():
            attempts[attempt.notification_id].append(attempt)
        for receipt in (await session.execute(select(DeliveryReceipt).where(
                DeliveryReceipt.notification_id.in_(ids)).order_by(DeliveryReceipt.id))).scalars():
            receipts[receipt.notification_id].append(receipt)
    facets = await scope.facets(session, [ret])
    return ReturnTimeline(
        return_=return_detail(ret, facets[ret.id], hub.codec),
        timeline=[timeline_item(e) for e in entries],
        events=[inbox_event(e) for e in events],
        notifications=[notification_detail(n, hub.cipher, attempts[n.id], receipts[n.id])
                       for n in notifications])


@router.route("GET", "/api/returns/{id}/timeline", summary="A return's timeline: every event, "
              "rule decision and notification", scope="read", path_model=IntId,
              response=ReturnTimeline, errors={404: "No such return, or outside the token's "
                                                    "limits."})
async def get_timeline(call: Call) -> ReturnTimeline:
    """The full story of one return."""
    scope = Scope(call.hub, call.token)
    async with call.hub.sessionmaker() as session:
        ret = await scope.get_return(session, call.path.id)
        return await load_timeline(session, call.hub, scope, ret)
