"""Signing in to the dashboard by pasting a token, and signing out.

The token goes into the ``rh_session`` cookie: HttpOnly (no script can read it), SameSite=
Strict (no other site's page can make the browser send it), Secure when the hub is served over
HTTPS, limited to ``/admin`` and to :data:`SESSION_SECONDS`.
"""

from __future__ import annotations

from aiohttp import web

from hub.store.engine import utcnow
from hub.tokens import authenticate
from hub.web.auth import SESSION_COOKIE
from hub.web.body import read_form
from hub.web.dashboard.pages import render_page
from hub.web.keys import HUB

#: How long a dashboard session lasts.
SESSION_SECONDS = 8 * 3600
#: The cookie's path: the dashboard only.
COOKIE_PATH = "/admin"


def signin_page(request: web.Request, *, status: int = 200, error: str | None = None
                ) -> web.Response:
    """The sign-in form."""
    brand = request.app[HUB].settings.notifications.brand
    return render_page("signin.html", status=status, error=error, store_name=brand.store_name)


def see_other(location: str) -> web.Response:
    """A 303 redirect (after a POST, the browser GETs ``location``)."""
    return web.Response(status=303, headers={"Location": location})


def _secure(request: web.Request) -> bool:
    return request.secure or request.app[HUB].public_url.startswith("https://")


async def sign_in(request: web.Request) -> web.Response:
    """Check the pasted token; on success set the session cookie and go to the dashboard."""
    hub = request.app[HUB]
    form = await read_form(request)
    token = str(form.get("token", "")).strip()
    info = None
    if token:
        async with hub.sessionmaker() as session, session.begin():
            info = await authenticate(session, token, utcnow())
    if info is None:
        response = signin_page(request, status=401, error="That token is not valid.")
        response.headers["WWW-Authenticate"] = 'Bearer realm="returnhub", error="invalid_token"'
        return response
    response = see_other("/admin/")
    response.set_cookie(SESSION_COOKIE, token, max_age=SESSION_SECONDS, path=COOKIE_PATH,
                        httponly=True, samesite="Strict", secure=_secure(request))
    return response


async def sign_out(request: web.Request) -> web.Response:
    """Forget the session cookie (the token itself stays valid; revoke it with the CLI)."""
    response = see_other("/admin/")
    response.del_cookie(SESSION_COOKIE, path=COOKIE_PATH)
    return response
