"""The dashboard's campaigns page: every campaign with its live counts (the page refreshes
itself every few seconds), and launch / pause / resume / cancel buttons (operate scope,
CSRF-checked form posts, audit-logged like the API's)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from sqlalchemy import select

from hub.campaigns import service
from hub.store.engine import utcnow
from hub.store.models_campaigns import Campaign, Segment
from hub.web.admin import audit
from hub.web.admin.errors import ApiError
from hub.web.admin.ids import parse_row_id
from hub.web.auth import RAW, csrf_token, current_token
from hub.web.dashboard.pages import render_page
from hub.web.dashboard.signin import see_other
from hub.web.errors import error_response
from hub.web.keys import HUB

if TYPE_CHECKING:
    from hub.runtime import Hub

#: Seconds between the page's own refreshes (its counts are live from the outbox).
REFRESH_SECONDS = 3
#: Messages shown after an action (never text from the request).
FLASHES = {
    "done": "Done.",
    "refused": "The campaign's state does not allow that any more.",
    "forbidden": "Changing a campaign needs a token with the operate scope.",
    "not_found": "That campaign does not exist.",
}
#: The actions a campaign in each state offers.
ACTIONS = {"draft": ("launch", "cancel"), "running": ("pause", "cancel"),
           "paused": ("resume", "cancel")}


async def campaigns_page(request: web.Request) -> web.Response:
    """Every campaign, newest first, with its progress and its buttons."""
    hub: Hub = request.app[HUB]
    token = current_token(request)
    async with hub.sessionmaker() as session:
        rows = (await session.execute(select(Campaign, Segment).join(
            Segment, Segment.id == Campaign.segment_id).order_by(Campaign.id.desc()))).all()
    items = [{"campaign": campaign, "segment": segment.name,
              "progress": await service.progress(hub, campaign),
              "actions": ACTIONS.get(campaign.status, ())} for campaign, segment in rows]
    raw = request.get(RAW)
    return render_page(
        "campaigns.html", token=token, items=items, refresh=REFRESH_SECONDS,
        can_act=token.allows_scope("operate"), csrf=csrf_token(hub, raw) if raw else "",
        flash=FLASHES.get(request.query.get("flash", "")),
        store_name=hub.settings.notifications.brand.store_name)


async def campaign_action(request: web.Request) -> web.Response:
    """A launch / pause / resume / cancel button (CSRF checked by the auth middleware)."""
    hub: Hub = request.app[HUB]
    token = current_token(request)
    action = request.match_info["action"]
    if action not in service.TRANSITIONS:
        return error_response(422, "invalid_field", "unknown campaign action", field="action")
    try:
        campaign_id = parse_row_id(request.match_info["id"])
    except ApiError as exc:  # the page never links such an id: a hand-made request
        return error_response(exc.status, exc.code, exc.message, field=exc.field)
    if not token.allows_scope("operate"):
        return see_other("/admin/campaigns?flash=forbidden")

    def record(session, target: str) -> None:  # noqa: ANN001
        audit.record(session, token, f"campaign.{action}", target, {"via": "dashboard"},
                     utcnow())
    try:
        await service.change(hub, campaign_id, action, record)
    except service.CampaignError as exc:
        flash = "not_found" if exc.status == 404 else "refused"
        return see_other(f"/admin/campaigns?flash={flash}")
    return see_other("/admin/campaigns?flash=done")
