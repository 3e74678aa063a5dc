"""The dashboard page, its return lookup and its dead-letter replay button."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from hub.store.engine import utcnow
from hub.store.models import Notification
from hub.web.admin.alerts import count_open_alerts
from hub.web.admin.connectors import list_connector_health
from hub.web.admin.dead_letters import (
    DEAD_NOTIFICATION_STATUSES,
    dead_inbox_page,
    replay_inbox,
    replay_notification,
    wake_workers,
)
from hub.web.admin.errors import ApiError
from hub.web.admin.ids import parse_row_id
from hub.web.admin.notifications import page_of_notifications
from hub.web.admin.returns import load_timeline, search_returns
from hub.web.admin.schemas import ReturnSearch
from hub.web.admin.scoping import Scope
from hub.web.admin.serialize import notification
from hub.web.auth import RAW, csrf_token, current_token
from hub.web.dashboard.pages import render_page
from hub.web.dashboard.signin import see_other
from hub.web.dashboard.stats import compute_stats
from hub.web.errors import error_response
from hub.web.keys import HUB

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from hub.runtime import Hub

#: Windows the dashboard offers, in days.
WINDOWS = (1, 7, 14, 30, 90)
#: Messages shown after a replay (never text from the request).
FLASHES = {
    "replayed": "Replayed: the dead letter is back in the queue.",
    "not_found": "That dead letter no longer exists (or is outside your token's limits).",
    "not_dead": "That item is not a dead letter any more.",
    "forbidden": "Replaying needs a token with the operate scope.",
}
#: How many dead letters of each kind the page lists.
DEAD_LETTERS_SHOWN = 20


def _days(request: web.Request) -> int:
    try:
        days = int(request.query.get("days", "14"))
    except ValueError:
        return 14
    return days if days in WINDOWS else 14


async def _lookup(session: AsyncSession, hub: Hub, scope: Scope, q: str,
                  return_id: str) -> dict[str, Any]:
    """Find returns by reference, order number or customer email; the timeline of the one
    chosen (``return_id``) or of the only one found."""
    q = q.strip()[:320]
    found = []
    if q:
        if "@" in q:
            filters = {"email": q}
        elif q.startswith("#"):
            filters = {"order_number": q}
        else:
            filters = {"reference": q}
        found = (await search_returns(session, hub, scope,
                                      ReturnSearch(limit=20, **filters))).items
    try:
        chosen: int | None = parse_row_id(return_id, "return") if return_id else None
    except ApiError:
        chosen = None  # a hand-edited URL: show the search without a timeline
    if chosen is None and len(found) == 1:
        chosen = found[0].id
    timeline = None
    if chosen is not None:
        try:
            timeline = await load_timeline(session, hub, scope,
                                           await scope.get_return(session, chosen))
        except ApiError:
            timeline = None
    return {"q": q, "results": found, "timeline": timeline}


async def dashboard(request: web.Request) -> web.Response:
    """The dashboard (see docs/dashboard.md for what each number means)."""
    hub: Hub = request.app[HUB]
    token = current_token(request)
    scope = Scope(hub, token)
    days = _days(request)
    lookup = None
    async with hub.sessionmaker() as session:
        stats = await compute_stats(session, days)
        dead_notifications, _ = await page_of_notifications(
            session, scope, [Notification.status.in_(DEAD_NOTIFICATION_STATUSES)],
            DEAD_LETTERS_SHOWN, None)
        dead_inbox, _ = await dead_inbox_page(session, scope, DEAD_LETTERS_SHOWN, None)
        open_alerts = await count_open_alerts(session)
        if request.query.get("q", "").strip() or request.query.get("return"):
            lookup = await _lookup(session, hub, scope, request.query.get("q", ""),
                                   request.query.get("return", ""))
    connectors = await list_connector_health(hub)
    raw = request.get(RAW)
    return render_page(
        "dashboard.html", token=token, stats=stats, days=days, windows=WINDOWS,
        chart=stats.series, lookup=lookup,
        dead_notifications=[notification(n, hub.cipher) for n in dead_notifications],
        dead_inbox=dead_inbox, connectors=connectors, open_alerts=open_alerts,
        can_replay=token.allows_scope("operate"), csrf=csrf_token(hub, raw) if raw else "",
        flash=FLASHES.get(request.query.get("flash", "")),
        store_name=hub.settings.notifications.brand.store_name)


async def replay(request: web.Request) -> web.Response:
    """The replay button: a CSRF-checked form POST (checked by the auth middleware)."""
    hub: Hub = request.app[HUB]
    token = current_token(request)
    kind, item = request.match_info["kind"], request.match_info["id"]
    if not token.allows_scope("operate"):
        return see_other("/admin/?flash=forbidden#dead-letters")
    if kind == "inbox":
        try:
            inbox_id = parse_row_id(item)
        except ApiError as exc:  # the page never links such an id: a hand-made request
            return error_response(exc.status, exc.code, exc.message, field=exc.field)
    try:
        async with hub.sessionmaker() as session, session.begin():
            if kind == "inbox":
                await replay_inbox(session, hub, token, inbox_id, utcnow())
            elif kind == "notification":
                await replay_notification(session, hub, token, item, utcnow())
            else:
                return see_other("/admin/?flash=not_found#dead-letters")
    except ApiError as exc:
        flash = "not_dead" if exc.status == 409 else "not_found"
        return see_other(f"/admin/?flash={flash}#dead-letters")
    wake_workers(hub)
    return see_other("/admin/?flash=replayed#dead-letters")


async def to_dashboard(_request: web.Request) -> web.Response:
    """``/admin`` → ``/admin/``."""
    return see_other("/admin/")
