"""One-click unsubscribe (RFC 8058) at ``/u/<token>``.

``POST`` is what a mail client sends for ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``:
no cookies, no login, the signed token is the only credential. It withdraws the customer's
marketing consent on the token's channel, answers 200 at once and is idempotent. RFC 8058
lets the client send the body form-encoded or as multipart; the token alone decides, so either
works. ``GET`` (a person following the link, or a link scanner) only shows a page with a button
that posts the same thing: fetching the link never unsubscribes anyone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from hub import consent
from hub.logs import get_logger
from hub.store.engine import utcnow
from hub.store.models import Customer
from hub.unsubscribe_links import InvalidUnsubscribeToken, read_token
from hub.web.body import read_body
from hub.web.errors import error_response
from hub.web.keys import HUB

if TYPE_CHECKING:
    from hub.runtime import Hub

log = get_logger("hub.unsubscribe")

#: A one-click body is 26 bytes; multipart adds a boundary. Anything bigger is not a client.
_BODY_LIMIT = 4096

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title></head>
<body style="font-family: sans-serif; max-width: 32em; margin: 3em auto; padding: 0 1em">
<h1>{title}</h1><p>{text}</p>{form}</body></html>"""
_FORM = """<form method="post" action="">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">Unsubscribe</button></form>"""


def _claim(hub: Hub, token: str) -> tuple[int, str] | None:
    try:
        return read_token(hub.portal_key, token)
    except InvalidUnsubscribeToken:
        return None


async def unsubscribe_page(request: web.Request) -> web.Response:
    """The confirmation page: what the link does, and a button; changes nothing."""
    claim = _claim(request.app[HUB], request.match_info["token"])
    if claim is None:
        return error_response(404, "not_found", "this unsubscribe link is not valid",
                              field="token")
    channel = "emails" if claim[1] == "email" else "text messages"
    page = _PAGE.format(title="Unsubscribe from offers",
                        text=f"Stop receiving promotional {channel} from us? Messages about "
                             "your returns will still reach you.", form=_FORM)
    return web.Response(text=page, content_type="text/html",
                        headers={"Cache-Control": "no-store"})


async def unsubscribe_post(request: web.Request) -> web.Response:
    """Withdraw marketing consent on the token's channel (RFC 8058 one-click); idempotent."""
    hub: Hub = request.app[HUB]
    claim = _claim(hub, request.match_info["token"])
    if claim is None:
        return error_response(404, "not_found", "this unsubscribe link is not valid",
                              field="token")
    await read_body(request, _BODY_LIMIT)  # bounded; its content does not matter (see above)
    customer_id, channel = claim
    async with hub.sessionmaker() as session, session.begin():
        if await session.get(Customer, customer_id) is None:
            return error_response(404, "not_found", "this unsubscribe link is not valid",
                                  field="token")
        changed = await consent.record(session, customer_id, channel, False, "unsubscribe",
                                       utcnow())
    log.info("marketing_unsubscribed", customer_id=customer_id, channel=channel,
             changed=changed)
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data") \
            and "text/html" in request.headers.get("Accept", ""):
        page = _PAGE.format(title="Unsubscribed", text="You will no longer receive offers "
                            "from us on this channel.", form="")
        return web.Response(text=page, content_type="text/html")
    return web.json_response({"unsubscribed": True, "channel": channel})


def setup_unsubscribe(app: web.Application) -> None:
    """Register ``GET`` and ``POST /u/{token}``."""
    app.router.add_get("/u/{token}", unsubscribe_page)
    app.router.add_post("/u/{token}", unsubscribe_post)
