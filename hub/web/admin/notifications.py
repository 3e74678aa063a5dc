"""Notifications: the outbox, with attempts and receipts."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from hub.store.models import DeliveryAttempt, DeliveryReceipt, Notification
from hub.web.admin.errors import not_found
from hub.web.admin.paging import before, decode_cursor, encode_cursor
from hub.web.admin.routing import ApiRouter, Call
from hub.web.admin.schemas import (
    NotificationDetail,
    NotificationOut,
    NotificationQuery,
    Page,
    StrId,
)
from hub.web.admin.scoping import Scope
from hub.web.admin.serialize import notification, notification_detail

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

router = ApiRouter(tag="notifications")

#: Newest first; the id breaks ties.
ORDER = (Notification.created_at, Notification.id)


async def page_of_notifications(session: AsyncSession, scope: Scope, conditions: list[Any],
                                limit: int, cursor: str | None) -> tuple[list[Notification],
                                                                         str | None]:
    """One page of notifications matching ``conditions`` whose return the token may see."""
    after = decode_cursor(cursor, datetime, str) if cursor else None
    wanted = limit + 1
    found: list[Notification] = []
    while len(found) < wanted:
        statement = (select(Notification).where(*conditions)
                     .order_by(Notification.created_at.desc(), Notification.id.desc())
                     .limit(wanted))
        if after is not None:
            statement = statement.where(before(ORDER, after))
        batch = list((await session.execute(statement)).scalars())
        if not batch:
            break
        allowed = await scope.check_return_ids(session, {n.return_id for n in batch})
        found.extend(n for n in batch if n.return_id in allowed)
        after = (batch[-1].created_at, batch[-1].id)
        if len(batch) < wanted:
            break
    page = found[:limit]
    more = len(found) > limit
    return page, (encode_cursor(page[-1].created_at, page[-1].id) if more and page else None)


@router.route("GET", "/api/notifications", summary="List notifications, newest first",
              scope="read", query=NotificationQuery, response=Page[NotificationOut])
async def list_notifications(call: Call) -> Page[NotificationOut]:
    """Filter by return, status, channel, provider and stage."""
    query: NotificationQuery = call.query
    conditions: list[Any] = []
    if query.return_id:
        conditions.append(Notification.return_id == query.return_id)
    if query.status:
        conditions.append(Notification.status.in_(query.status))
    if query.channel:
        conditions.append(Notification.channel == query.channel)
    if query.provider:
        conditions.append(Notification.provider == query.provider)
    if query.stage:
        conditions.append(Notification.stage == query.stage)
    async with call.hub.sessionmaker() as session:
        rows, cursor = await page_of_notifications(session, Scope(call.hub, call.token),
                                                   conditions, query.limit, query.cursor)
    return Page[NotificationOut](items=[notification(r, call.hub.cipher) for r in rows],
                                 next_cursor=cursor)


@router.route("GET", "/api/notifications/{id}", summary="One notification with its attempts "
              "and receipts", scope="read", path_model=StrId, response=NotificationDetail,
              errors={404: "No such notification, or outside the token's limits."})
async def get_notification(call: Call) -> NotificationDetail:
    """A notification, every attempt through a provider, every receipt."""
    scope = Scope(call.hub, call.token)
    async with call.hub.sessionmaker() as session:
        row = await session.get(Notification, call.path.id)
        if row is None or row.return_id not in await scope.check_return_ids(
                session, {row.return_id}):
            raise not_found("notification")
        attempts = list((await session.execute(select(DeliveryAttempt).where(
            DeliveryAttempt.notification_id == row.id).order_by(DeliveryAttempt.id))).scalars())
        receipts = list((await session.execute(select(DeliveryReceipt).where(
            DeliveryReceipt.notification_id == row.id).order_by(DeliveryReceipt.id))).scalars())
    return notification_detail(row, call.hub.cipher, attempts, receipts)
