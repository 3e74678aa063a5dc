"""``/portal/r/{token}``: the customer's return page, and its live updates (server-sent events).

The token is a signed, expiring link naming one return (:mod:`hub.portal_links`). A forged or
malformed token, or one naming no return, gets the same friendly 404 page; an expired one a
410 page. Live updates poll the database cheaply (two indexed ``max(id)`` lookups) every few
seconds, so a stage applied by any process reaches every open page.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import TYPE_CHECKING

from aiohttp import web

from hub.portal_links import InvalidPortalToken, PortalClaim, read_token
from hub.store.engine import utcnow
from hub.store.models import PortalView, Return
from hub.web.dashboard.pages import render_page
from hub.web.keys import HUB
from hub.web.metrics import metrics_of
from hub.web.portal.consent import consent_choices, portal_consent
from hub.web.portal.view import find_return, load_view, version_of

if TYPE_CHECKING:
    from hub.runtime import Hub

#: How often an open page's stream looks for changes (seconds).
POLL_SECONDS: web.AppKey[float] = web.AppKey("portal_poll_seconds", float)
#: A comment line keeps proxies from closing an idle stream.
KEEPALIVE_SECONDS = 15.0
#: A stream ends after this long; the browser reconnects by itself (bounded resources).
MAX_STREAM_SECONDS = 600.0
#: Most streams open at once in one process.
MAX_STREAMS = 1000
_open_streams: web.AppKey[set[web.StreamResponse]] = web.AppKey("portal_streams", set)


class _Gone(Exception):
    """The link is not (or no longer) usable; ``status`` is 404 or 410."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def _claim(hub: Hub, token: str) -> PortalClaim:
    try:
        return read_token(hub.portal_key, token, utcnow())
    except InvalidPortalToken as exc:
        raise _Gone(410 if str(exc) == "expired" else 404) from None


def _gone_page(hub: Hub, status: int) -> web.Response:
    brand = hub.settings.notifications.brand
    return render_page("portal_gone.html", status=status, referrer="no-referrer",
                       expired=status == 410,
                       store_name=brand.store_name, support_email=brand.support_email,
                       primary_color=brand.primary_color)


async def portal_page(request: web.Request) -> web.Response:
    """The return page; opening it marks the return's notices read."""
    hub: Hub = request.app[HUB]
    try:
        claim = _claim(hub, request.match_info["token"])
        async with hub.sessionmaker() as session, session.begin():
            ret = await find_return(session, claim)
            if ret is None:
                raise _Gone(404)
            view = await load_view(session, hub, ret, mark_read=True)
            offers = await consent_choices(session, ret.customer_id)
            session.add(PortalView(return_id=ret.id, viewed_at=utcnow()))
    except _Gone as gone:
        return _gone_page(hub, gone.status)
    metrics = metrics_of(request.app)
    if metrics:
        metrics.portal_views.inc()
    return render_page("portal.html", referrer="no-referrer", view=view, offers=offers,
                       events_url=f"{request.path}/events",
                       consent_url=f"{request.path}/consent")


def _sse(event: str, data: str, event_id: str | None = None) -> bytes:
    lines = [f"event: {event}"]
    if event_id:
        lines.append(f"id: {event_id}")
    lines += [f"data: {line}" for line in data.splitlines() or [""]]
    return ("\n".join(lines) + "\n\n").encode()


async def portal_events(request: web.Request) -> web.StreamResponse:
    """``text/event-stream`` of ``update`` events, each the page's content as JSON, sent when
    the return's timeline or notices change. ``Last-Event-ID`` (or ``?v=``) is the version the
    page already shows."""
    hub: Hub = request.app[HUB]
    try:
        claim = _claim(hub, request.match_info["token"])
        async with hub.sessionmaker() as session:
            ret = await find_return(session, claim)
        if ret is None:
            raise _Gone(404)
    except _Gone as gone:
        return web.Response(status=gone.status, text="this link is not valid\n")
    streams = request.app[_open_streams]
    if len(streams) >= MAX_STREAMS:
        return web.Response(status=503, text="busy\n", headers={"Retry-After": "30"})
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-store",
        "X-Accel-Buffering": "no", "Referrer-Policy": "no-referrer"})
    await response.prepare(request)
    streams.add(response)
    try:
        await _stream(request, hub, claim, ret.id, response)
    except ConnectionResetError:
        pass  # the page was closed
    finally:
        streams.discard(response)
    return response


async def _stream(request: web.Request, hub: Hub, claim: PortalClaim, return_id: int,
                  response: web.StreamResponse) -> None:
    poll = request.app[POLL_SECONDS]
    shown = request.headers.get("Last-Event-ID") or request.query.get("v", "")
    await response.write(f"retry: {int(max(poll, 1.0) * 1000)}\n\n".encode())
    started = last_write = time.monotonic()
    while time.monotonic() - started < MAX_STREAM_SECONDS and claim.expires_at > utcnow():
        update = None
        # Read, then write to the client once the session is closed: a client that stops
        # reading must not keep a transaction (on SQLite, the database's write lock) open.
        async with hub.sessionmaker() as session:
            ret = await session.get(Return, return_id)
            if ret is None:
                return
            version = await version_of(session, ret)
            if version != shown:
                view = await load_view(session, hub, ret, mark_read=False)
                update = _sse("update", json.dumps(view.as_json()), version)
        if update is not None:
            await response.write(update)
            shown, last_write = version, time.monotonic()
        if time.monotonic() - last_write >= KEEPALIVE_SECONDS:
            await response.write(b": keepalive\n\n")
            last_write = time.monotonic()
        await asyncio.sleep(poll)


async def _close_streams(app: web.Application) -> None:
    for stream in list(app[_open_streams]):
        with contextlib.suppress(Exception):
            await stream.write_eof()


def setup_portal(app: web.Application, *, poll_seconds: float = 2.0) -> None:
    """Add the portal's routes to ``app``."""
    app[POLL_SECONDS] = poll_seconds
    app[_open_streams] = set()
    app.on_shutdown.append(_close_streams)
    app.router.add_get("/portal/r/{token}", portal_page)
    app.router.add_get("/portal/r/{token}/events", portal_events)
    app.router.add_post("/portal/r/{token}/consent", portal_consent)
