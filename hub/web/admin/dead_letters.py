"""Dead letters: inbox events that failed to apply, notifications that died or failed; replay.

Replaying puts the row back where a worker picks it up: an inbox event to ``pending`` with
attempts 0; a notification to ``pending``, due now, attempts 0 and no providers tried. Each
replay is audit-logged in the same transaction. The listing and replay functions are shared
by the API and the dashboard.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select, tuple_, update

from hub.store.engine import utcnow
from hub.store.models import InboxEvent, Notification, Return
from hub.web.admin import audit
from hub.web.admin.errors import ApiError, not_found
from hub.web.admin.notifications import page_of_notifications
from hub.web.admin.paging import before, decode_cursor, encode_cursor
from hub.web.admin.routing import ApiRouter, Call
from hub.web.admin.schemas import (
    DeadInboxQuery,
    DeadNotificationQuery,
    InboxEventOut,
    IntId,
    NotificationOut,
    Page,
    ReplayResult,
    StrId,
)
from hub.web.admin.scoping import Facets, Scope, event_facets
from hub.web.admin.serialize import inbox_event, notification

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncSession

    from hub.runtime import Hub
    from hub.tokens import TokenInfo

router = ApiRouter(tag="dead letters")

#: Notification statuses that are dead letters.
DEAD_NOTIFICATION_STATUSES = ("dead", "failed")
#: The inbox status of an event that could not be applied.
DEAD_INBOX_STATUS = "failed"


async def visible_inbox(session: AsyncSession, scope: Scope,
                        rows: list[InboxEvent]) -> list[InboxEvent]:
    """Inbox rows the token may see: by the event's own facets, completed by its return's."""
    if not scope.token.limited:
        return rows
    keys = {(r.source, r.return_ref) for r in rows if r.return_ref}
    returns: dict[tuple[str, str], Return] = {}
    if keys:
        for ret in (await session.execute(select(Return).where(
                tuple_(Return.source, Return.external_id).in_(list(keys))))).scalars():
            returns[(ret.source, ret.external_id)] = ret
    return_facets = await scope.facets(session, list(returns.values()))
    visible = []
    for row in rows:
        try:
            own = event_facets(scope.hub.codec.decode(row.payload_enc))
        except ValueError:
            own = Facets()
        ret = returns.get((row.source, row.return_ref))
        theirs = return_facets.get(ret.id, Facets()) if ret is not None else Facets()
        if scope.allows(Facets(own.region or theirs.region,
                               own.categories or theirs.categories)):
            visible.append(row)
    return visible


async def dead_inbox_page(session: AsyncSession, scope: Scope, limit: int, cursor: str | None,
                          source: str | None = None) -> tuple[list[InboxEvent], str | None]:
    """One page of failed inbox events, newest first."""
    conditions: list[Any] = [InboxEvent.status == DEAD_INBOX_STATUS]
    if source:
        conditions.append(InboxEvent.source == source)
    last_id = decode_cursor(cursor, int)[0] if cursor else None
    wanted = limit + 1
    found: list[InboxEvent] = []
    while len(found) < wanted:
        statement = select(InboxEvent).where(*conditions).order_by(
            InboxEvent.id.desc()).limit(wanted)
        if last_id is not None:
            statement = statement.where(before((InboxEvent.id,), (last_id,)))
        batch = list((await session.execute(statement)).scalars())
        if not batch:
            break
        found.extend(await visible_inbox(session, scope, batch))
        last_id = batch[-1].id
        if len(batch) < wanted:
            break
    page = found[:limit]
    return page, (encode_cursor(page[-1].id) if len(found) > limit and page else None)


async def replay_inbox(session: AsyncSession, hub: Hub, token: TokenInfo, inbox_id: int,
                       now: datetime) -> ReplayResult:
    """Put a failed inbox event back in the queue (inside the caller's transaction)."""
    row = await session.get(InboxEvent, inbox_id)
    if row is None or not await visible_inbox(session, Scope(hub, token), [row]):
        raise not_found("inbox event")
    if row.status != DEAD_INBOX_STATUS:
        raise ApiError(409, "not_a_dead_letter",
                       f"inbox event {inbox_id} is {row.status}, not failed")
    await session.execute(update(InboxEvent).where(InboxEvent.id == inbox_id).values(
        status="pending", attempts=0, available_at=now, lease_owner=None, lease_until=None)
        .execution_options(synchronize_session=False))
    audit.record(session, token, "inbox.replay", f"inbox_event:{inbox_id}",
                 {"source": row.source, "previous_status": row.status,
                  "previous_attempts": row.attempts}, now)
    return ReplayResult(kind="inbox", id=str(inbox_id), status="pending")


async def replay_notification(session: AsyncSession, hub: Hub, token: TokenInfo,
                              notification_id: str, now: datetime) -> ReplayResult:
    """Put a dead or failed notification back in the outbox (inside the caller's
    transaction)."""
    row = await session.get(Notification, notification_id)
    scope = Scope(hub, token)
    if row is None or row.return_id not in await scope.check_return_ids(session,
                                                                         {row.return_id}):
        raise not_found("notification")
    if row.status not in DEAD_NOTIFICATION_STATUSES:
        raise ApiError(409, "not_a_dead_letter",
                       f"notification {notification_id} is {row.status}, not dead or failed")
    await session.execute(update(Notification).where(Notification.id == notification_id).values(
        status="pending", next_attempt_at=now, attempts=0, tried_providers=[],
        lease_owner=None, lease_until=None, receipt_due_at=None,
        # A new message as far as the outbox knows: the old call's intent (a receipt's
        # failure keeps it) would make it look like a started send.
        send_started_at=None, send_provider=None)
        .execution_options(synchronize_session=False))
    audit.record(session, token, "notification.replay", f"notification:{notification_id}",
                 {"channel": row.channel, "stage": row.stage, "previous_status": row.status,
                  "previous_attempts": row.attempts}, now)
    return ReplayResult(kind="notification", id=notification_id, status="pending")


def wake_workers(hub: Hub) -> None:
    """Shorten the wait of this process's workers (others find the rows by polling)."""
    if hub.processor is not None:
        hub.processor.wake.set()
    if hub.dispatcher is not None:
        hub.dispatcher.wake.set()


@router.route("GET", "/api/dead-letters/notifications", summary="Notifications that died "
              "(attempts exhausted) or failed for good", scope="read",
              query=DeadNotificationQuery, response=Page[NotificationOut])
async def list_dead_notifications(call: Call) -> Page[NotificationOut]:
    """Dead and failed notifications, newest first."""
    query: DeadNotificationQuery = call.query
    conditions: list[Any] = [Notification.status.in_(DEAD_NOTIFICATION_STATUSES)]
    if query.channel:
        conditions.append(Notification.channel == query.channel)
    if query.provider:
        conditions.append(Notification.provider == query.provider)
    async with call.hub.sessionmaker() as session:
        rows, cursor = await page_of_notifications(session, Scope(call.hub, call.token),
                                                   conditions, query.limit, query.cursor)
    return Page[NotificationOut](items=[notification(r, call.hub.cipher) for r in rows],
                                 next_cursor=cursor)


@router.route("GET", "/api/dead-letters/inbox", summary="Inbox events that could not be "
              "applied", scope="read", query=DeadInboxQuery, response=Page[InboxEventOut])
async def list_dead_inbox(call: Call) -> Page[InboxEventOut]:
    """Failed inbox events, newest first."""
    query: DeadInboxQuery = call.query
    async with call.hub.sessionmaker() as session:
        rows, cursor = await dead_inbox_page(session, Scope(call.hub, call.token), query.limit,
                                             query.cursor, query.source)
    return Page[InboxEventOut](items=[inbox_event(r) for r in rows], next_cursor=cursor)


@router.route("POST", "/api/dead-letters/notifications/{id}/replay", summary="Replay a dead "
              "or failed notification", scope="operate", path_model=StrId,
              response=ReplayResult, audited=True,
              errors={404: "No such notification, or outside the token's limits.",
                      409: "The notification is not a dead letter."})
async def replay_notification_endpoint(call: Call) -> ReplayResult:
    """Back to pending, due now, attempts 0, no providers tried."""
    async with call.hub.sessionmaker() as session, session.begin():
        result = await replay_notification(session, call.hub, call.token, call.path.id,
                                           utcnow())
    wake_workers(call.hub)
    return result


@router.route("POST", "/api/dead-letters/inbox/{id}/replay", summary="Replay a failed inbox "
              "event", scope="operate", path_model=IntId, response=ReplayResult, audited=True,
              errors={404: "No such inbox event, or outside the token's limits.",
                      409: "The event is not a dead letter."})
async def replay_inbox_endpoint(call: Call) -> ReplayResult:
    """Back to pending with attempts 0."""
    async with call.hub.sessionmaker() as session, session.begin():
        result = await replay_inbox(session, call.hub, call.token, call.path.id, utcnow())
    wake_workers(call.hub)
    return result
