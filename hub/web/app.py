"""The application factory."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from hub.plugins import PluginError
from hub.web.admin import setup_admin_api
from hub.web.auth import require_token
from hub.web.dashboard import setup_dashboard
from hub.web.errors import json_errors
from hub.web.health import healthz, readyz
from hub.web.ingress import webhook, webhook_head
from hub.web.keys import HUB
from hub.web.metrics import METRICS, HubMetrics, metrics_view
from hub.web.portal import setup_portal
from hub.web.serverlog import install_bad_request_filter
from hub.web.unsubscribe import setup_unsubscribe

if TYPE_CHECKING:
    from hub.runtime import Hub


def create_app(hub: Hub) -> web.Application:
    """Build the aiohttp application for a started (or starting) :class:`Hub`."""
    # Each route's body limit is enforced while reading (hub/web/body.py), with a JSON 413;
    # client_max_size only bounds plugin routes that call request.read() themselves.
    app = web.Application(middlewares=[json_errors, require_token],
                          client_max_size=hub.settings.server.max_body_bytes + 1)
    app[HUB] = hub
    app[METRICS] = HubMetrics()
    install_bad_request_filter()
    setup_routes(app)
    try:
        hub.pm.hook.returnhub_add_routes(app=app)
    except Exception as exc:  # at start-up: the hub does not start, and says whose hook
        raise PluginError(f"a returnhub_add_routes hook raised {type(exc).__name__}: "
                          f"{exc}") from exc
    return app


def setup_routes(app: web.Application) -> None:
    """The core routes: ingress, health, metrics, the admin API, the dashboard, the portal.
    Everything under /api and /admin needs a token (:mod:`hub.web.auth`)."""
    app.router.add_post("/webhooks/{connector}", webhook)
    app.router.add_route("HEAD", "/webhooks/{connector}", webhook_head)
    app.router.add_get("/healthz", healthz, allow_head=True)
    app.router.add_get("/readyz", readyz, allow_head=True)
    app.router.add_get("/metrics", metrics_view)
    setup_admin_api(app)
    setup_dashboard(app)
    setup_portal(app)
    setup_unsubscribe(app)
