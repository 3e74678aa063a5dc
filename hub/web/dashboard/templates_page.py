"""The dashboard's templates page: what this node renders with, the last refused change, and
the template library's recent saves (``docs/dashboard.md``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hub.store.template_store import history
from hub.web.auth import RAW, csrf_token, current_token
from hub.web.dashboard.pages import render_page
from hub.web.keys import HUB

if TYPE_CHECKING:
    from aiohttp import web

    from hub.runtime import Hub

#: How many saves the page lists.
HISTORY_SHOWN = 20


async def templates_page(request: web.Request) -> web.Response:
    """``GET /admin/templates``."""
    hub: Hub = request.app[HUB]
    await hub.templates.refresh(force=True)
    raw = request.get(RAW)
    return render_page(
        "dashboard_templates.html", token=current_token(request),
        node=hub.templates.status(), problem=hub.templates.problem,
        saves=await history(hub.sessionmaker, HISTORY_SHOWN),
        csrf=csrf_token(hub, raw) if raw else "",
        store_name=hub.settings.notifications.brand.store_name)
