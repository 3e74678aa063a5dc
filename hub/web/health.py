"""``GET /healthz`` (the process is up) and ``GET /readyz`` (database reachable, migrated)."""

from __future__ import annotations

import os

from aiohttp import web
from sqlalchemy import text

from hub.store.migrate import current_revision, head_revision
from hub.web.keys import HUB


async def healthz(_request: web.Request) -> web.Response:
    """Liveness: the process answers (``pid``: which one, when ``serve`` runs several)."""
    return web.json_response({"status": "ok", "pid": os.getpid()})


async def readyz(request: web.Request) -> web.Response:
    """Readiness: the database answers and its schema is the one this code expects."""
    hub = request.app[HUB]
    try:
        async with hub.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        revision = await current_revision(hub.engine)
    except Exception as exc:
        return web.json_response({"status": "unavailable", "database": type(exc).__name__},
                                 status=503)
    head = head_revision()
    ready = revision == head
    return web.json_response({"status": "ok" if ready else "migrations_pending",
                              "revision": revision, "expected": head},
                             status=200 if ready else 503)
