"""The operators' dashboard at ``/admin/``: server-rendered pages, signed in with a token."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hub.web.dashboard.alerts import alerts_view
from hub.web.dashboard.campaigns import campaign_action, campaigns_page
from hub.web.dashboard.engagement_views import engagement_csv, engagement_page
from hub.web.dashboard.matches import matches_page, resolve_form
from hub.web.dashboard.pages import STATIC_DIR
from hub.web.dashboard.signin import sign_in, sign_out
from hub.web.dashboard.templates_page import templates_page
from hub.web.dashboard.views import dashboard, replay, to_dashboard

if TYPE_CHECKING:
    from aiohttp import web


def setup_dashboard(app: web.Application) -> None:
    """Add the dashboard's routes and the pages' static files to ``app``."""
    app.router.add_get("/admin", to_dashboard)
    app.router.add_get("/admin/", dashboard)
    app.router.add_get("/admin/templates", templates_page)
    app.router.add_get("/admin/alerts", alerts_view)
    app.router.add_post("/admin/session", sign_in)
    app.router.add_post("/admin/session/end", sign_out)
    app.router.add_post("/admin/dead-letters/{kind}/{id}/replay", replay)
    app.router.add_get("/admin/matches", matches_page)
    app.router.add_post("/admin/matches/{id}/resolve", resolve_form)
    app.router.add_get("/admin/engagement", engagement_page)
    app.router.add_get("/admin/engagement/{table}.csv", engagement_csv)
    app.router.add_get("/admin/campaigns", campaigns_page)
    app.router.add_post("/admin/campaigns/{id}/{action}", campaign_action)
    app.router.add_static("/static/", STATIC_DIR, append_version=True)
