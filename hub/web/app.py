"""The application factory."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from hub.web.errors import json_errors
from hub.web.health import healthz, readyz
from hub.web.ingress import webhook, webhook_head
from hub.web.keys import HUB

if TYPE_CHECKING:
    from hub.runtime import Hub


def create_app(hub: Hub) -> web.Application:
    """Build the aiohttp application for a started (or starting) :class:`Hub`."""
    # The body limit is enforced by ingress while reading, with a JSON 413.
    app = web.Application(middlewares=[json_errors],
                          client_max_size=hub.settings.server.max_body_bytes + 1)
    app[HUB] = hub
    setup_routes(app)
    hub.pm.hook.returnhub_add_routes(app=app)
    return app


def setup_routes(app: web.Application) -> None:
    """The core routes."""
    app.router.add_post("/webhooks/{connector}", webhook)
    app.router.add_route("HEAD", "/webhooks/{connector}", webhook_head)
    app.router.add_get("/healthz", healthz, allow_head=True)
    app.router.add_get("/readyz", readyz, allow_head=True)
