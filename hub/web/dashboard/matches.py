"""The dashboard's parked matches page: events waiting for an operator to say which return
they belong to, each with a form choosing a return or a new one (see docs/dashboard.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hub.store.engine import utcnow
from hub.web.admin.dead_letters import wake_workers
from hub.web.admin.errors import ApiError
from hub.web.admin.ids import parse_row_id
from hub.web.admin.matches import ResolveBody, parked_page, resolve
from hub.web.admin.scoping import Scope
from hub.web.auth import RAW, csrf_token, current_token
from hub.web.body import read_form
from hub.web.dashboard.pages import render_page
from hub.web.dashboard.signin import see_other
from hub.web.keys import HUB

if TYPE_CHECKING:
    from aiohttp import web

    from hub.runtime import Hub

#: How many parked matches the page lists (the longest waiting first).
SHOWN = 50
#: Messages shown after a resolve (never text from the request).
FLASHES = {
    "resolved": "Resolved: the event is back in the queue with your choice.",
    "not_found": "That match no longer exists (or is outside your token's limits).",
    "not_parked": "That event is not waiting for a match any more.",
    "bad_choice": "Choose one of the returns, another return's id, or a new return.",
    "forbidden": "Resolving needs a token with the operate scope.",
}


async def matches_page(request: web.Request) -> web.Response:
    """The parked matches, with a resolve form each."""
    hub: Hub = request.app[HUB]
    token = current_token(request)
    async with hub.sessionmaker() as session:
        items, _ = await parked_page(session, hub, Scope(hub, token), SHOWN, None)
    raw = request.get(RAW)
    return render_page("matches.html", token=token, matches=items,
                       can_resolve=token.allows_scope("operate"),
                       csrf=csrf_token(hub, raw) if raw else "",
                       flash=FLASHES.get(request.query.get("flash", "")),
                       store_name=hub.settings.notifications.brand.store_name)


async def resolve_form(request: web.Request) -> web.Response:
    """The resolve form: a CSRF-checked POST (checked by the auth middleware) whose
    ``choice`` is a return id or ``new``."""
    hub: Hub = request.app[HUB]
    token = current_token(request)
    if not token.allows_scope("operate"):
        return see_other("/admin/matches?flash=forbidden")
    try:
        inbox_id = parse_row_id(request.match_info["id"])
    except ApiError:
        return see_other("/admin/matches?flash=not_found")
    choice = ((await read_form(request)).get("choice") or "").strip()
    try:
        body = (ResolveBody(new_return=True) if choice == "new"
                else ResolveBody(return_id=parse_row_id(choice, "choice")))
    except ApiError:
        return see_other("/admin/matches?flash=bad_choice")
    try:
        async with hub.sessionmaker() as session, session.begin():
            await resolve(session, hub, token, inbox_id, body, utcnow())
    except ApiError as exc:
        flash = {404: "not_found", 409: "not_parked"}.get(exc.status, "bad_choice")
        return see_other(f"/admin/matches?flash={flash}")
    wake_workers(hub)
    return see_other("/admin/matches?flash=resolved")
