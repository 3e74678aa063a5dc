"""The dashboard's alerts page (``/admin/alerts``): open alerts, then the most recent ones."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hub.web.admin.alerts import alerts_page
from hub.web.auth import RAW, csrf_token, current_token
from hub.web.dashboard.pages import render_page
from hub.web.keys import HUB

if TYPE_CHECKING:
    from aiohttp import web

    from hub.runtime import Hub

#: Open alerts listed (they should be few) and recent alerts of any status.
OPEN_SHOWN = 100
RECENT_SHOWN = 50


async def alerts_view(request: web.Request) -> web.Response:
    """Open alerts with how long they have been open, and the latest alerts (docs/alerts.md)."""
    hub: Hub = request.app[HUB]
    token = current_token(request)
    async with hub.sessionmaker() as session:
        open_alerts, _ = await alerts_page(session, OPEN_SHOWN, status="open")
        recent, _ = await alerts_page(session, RECENT_SHOWN)
    raw = request.get(RAW)
    return render_page(
        "alerts.html", token=token, open_alerts=open_alerts, recent=recent,
        rules=hub.settings.alerts.rules, csrf=csrf_token(hub, raw) if raw else "",
        store_name=hub.settings.notifications.brand.store_name)
