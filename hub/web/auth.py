"""Authentication of ``/api`` and ``/admin``: bearer tokens, the dashboard's cookie, CSRF.

Every request under ``/api`` or ``/admin`` needs a valid token, from the ``Authorization:
Bearer`` header or, for the dashboard, from the ``rh_session`` cookie (HttpOnly,
SameSite=Strict) set by signing in. Without one the answer is 401 with ``WWW-Authenticate:
Bearer``: JSON, or the sign-in page for a browser asking for ``/admin``. The only exception is
the sign-in POST itself, which authenticates the token it carries.

A cookie is sent by the browser on its own, so a state-changing request authenticated by the
cookie must also carry the CSRF token (field ``csrf`` of a URL-encoded form, or header
``X-CSRF-Token``), an HMAC
of the session token that a page of another origin cannot know; a foreign ``Origin`` is refused
outright. Bearer requests need neither: nothing sends that header by itself.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING, Any

from aiohttp import web

from hub.store.engine import utcnow
from hub.tokens import authenticate
from hub.web.body import read_form
from hub.web.errors import error_response
from hub.web.keys import HUB

if TYPE_CHECKING:
    from hub.runtime import Hub
    from hub.tokens import TokenInfo

#: Paths that need a token.
PROTECTED_PREFIXES = ("/api", "/admin")
#: The dashboard's sign-in endpoint (POST): it checks the token in its form itself.
SIGN_IN_PATH = "/admin/session"
#: The dashboard's session cookie; its value is the token.
SESSION_COOKIE = "rh_session"
#: Form field and header carrying the CSRF token.
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
#: Methods that change nothing (no CSRF check).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Typed request keys where aiohttp has them (3.13+), plain strings before.
_RequestKey = getattr(web, "RequestKey", None)


def _request_key(name: str, kind: type) -> Any:
    return _RequestKey(name, kind) if _RequestKey is not None else name


#: The authenticated token of a request (``request[TOKEN]``).
TOKEN: Any = _request_key("returnhub.token", object)
#: How it was presented: "bearer" or "cookie".
VIA: Any = _request_key("returnhub.auth_via", str)
#: The raw token of a cookie session (to derive the CSRF token for pages).
RAW: Any = _request_key("returnhub.raw_token", str)


def is_protected(path: str) -> bool:
    """Whether ``path`` needs a token."""
    return any(path == p or path.startswith(p + "/") for p in PROTECTED_PREFIXES)


def csrf_token(hub: Hub, raw_token: str) -> str:
    """The CSRF token of a session: HMAC of the session token under a derived server key."""
    key = hmac.new(hub.portal_key, b"returnhub-dashboard-csrf", hashlib.sha256).digest()
    return hmac.new(key, raw_token.encode(), hashlib.sha256).hexdigest()


def presented_token(request: web.Request) -> tuple[str | None, str | None]:
    """The token the request presents and how: (token, "bearer" | "cookie")."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), "bearer"
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        return cookie, "cookie"
    return None, None


def unauthorized(request: web.Request, code: str, message: str) -> web.StreamResponse:
    """401 with ``WWW-Authenticate: Bearer``: the sign-in page for a browser on /admin,
    JSON otherwise."""
    challenge = 'Bearer realm="returnhub"' + (
        f', error="{code}"' if code == "invalid_token" else "")
    if request.path.startswith("/admin") and "text/html" in request.headers.get("Accept", ""):
        from hub.web.dashboard.signin import signin_page

        response = signin_page(request, status=401,
                               error="That token is not valid." if code == "invalid_token"
                               else None)
        response.headers["WWW-Authenticate"] = challenge
        return response
    return error_response(401, code, message, headers={"WWW-Authenticate": challenge})


def forbidden(code: str, message: str) -> web.Response:
    """403 JSON."""
    return error_response(403, code, message)


def same_origin(request: web.Request) -> bool:
    """False when the request says it comes from another origin (a missing ``Origin`` header
    is allowed: old browsers and non-browser clients send none)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    origin_host = origin.split("://", 1)[-1].rstrip("/")
    public_host = request.app[HUB].public_url.split("://", 1)[-1].rstrip("/")
    return origin_host in {request.headers.get("Host", ""), public_host}


async def _csrf_ok(request: web.Request, hub: Hub, raw: str) -> bool:
    expected = csrf_token(hub, raw)
    provided = request.headers.get(CSRF_HEADER)
    if provided is None:
        provided = (await read_form(request)).get(CSRF_FIELD)
    return isinstance(provided, str) and hmac.compare_digest(provided, expected)


@web.middleware
async def require_token(request: web.Request, handler: Any) -> web.StreamResponse:
    """Authenticate ``/api`` and ``/admin`` requests (see the module docstring)."""
    if not is_protected(request.path):
        return await handler(request)
    hub: Hub = request.app[HUB]
    if request.path == SIGN_IN_PATH and request.method == "POST":
        if not same_origin(request):
            return forbidden("cross_origin", "sign-in from another origin is refused")
        return await handler(request)
    raw, via = presented_token(request)
    if raw is None:
        return unauthorized(request, "missing_token",
                            "an API token is required (Authorization: Bearer <token>)")
    async with hub.sessionmaker() as session, session.begin():
        info = await authenticate(session, raw, utcnow())
    if info is None:
        return unauthorized(request, "invalid_token", "the token is unknown or revoked")
    if request.method not in SAFE_METHODS and via == "cookie":
        if not same_origin(request):
            return forbidden("cross_origin", "requests from another origin are refused")
        if not await _csrf_ok(request, hub, raw):
            return forbidden("csrf_failed", "the CSRF token is missing or wrong; reload the "
                             "page and try again")
    request[TOKEN] = info
    request[VIA] = via
    if via == "cookie":
        request[RAW] = raw
    return await handler(request)


def current_token(request: web.Request) -> TokenInfo:
    """The request's authenticated token (set by :func:`require_token`)."""
    return request[TOKEN]


def insufficient_scope(required: str) -> web.Response:
    """403 for a token whose scope is too low."""
    return forbidden("insufficient_scope", f"this needs a token with the {required!r} scope")
