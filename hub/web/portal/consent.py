"""The portal's marketing-consent form: ``POST /portal/r/{token}/consent``.

The signed return link is the credential (as for the page itself): the form records the
customer's offers-by-email and offers-by-SMS choices with source ``portal`` and sends the
browser back to the page (303). Only changes are recorded (:func:`hub.consent.record`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from hub import consent
from hub.portal_links import InvalidPortalToken, read_token
from hub.store.engine import utcnow
from hub.store.models_consent import CONSENT_CHANNELS
from hub.web.body import read_form
from hub.web.errors import error_response
from hub.web.keys import HUB
from hub.web.portal.view import find_return

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from hub.runtime import Hub


async def consent_choices(session: AsyncSession, customer_id: int | None) -> dict[str, bool]:
    """The customer's marketing consent per channel, for the page's checkboxes."""
    if customer_id is None:
        return {}
    return {channel: (await consent.current(session, customer_id, channel)).granted
            for channel in CONSENT_CHANNELS}


async def portal_consent(request: web.Request) -> web.StreamResponse:
    """Record the form's choices (a box not ticked withdraws), then back to the page."""
    hub: Hub = request.app[HUB]
    token = request.match_info["token"]
    try:
        claim = read_token(hub.portal_key, token, utcnow())
    except InvalidPortalToken as exc:
        status = 410 if str(exc) == "expired" else 404
        return error_response(status, "not_found" if status == 404 else "gone",
                              "this return link is not valid", field="token")
    form = await read_form(request)
    unknown = sorted(set(form) - {f"offers_{c}" for c in CONSENT_CHANNELS} - {"submitted"})
    if unknown:
        return error_response(400, "invalid_field", f"{unknown[0]}: not a consent choice",
                              field=unknown[0])
    now = utcnow()
    async with hub.sessionmaker() as session, session.begin():
        ret = await find_return(session, claim)
        if ret is None or ret.customer_id is None:
            return error_response(404, "not_found", "this return link is not valid",
                                  field="token")
        for channel in CONSENT_CHANNELS:
            await consent.record(session, ret.customer_id, channel,
                                 form.get(f"offers_{channel}") == "yes", "portal", now)
    raise web.HTTPSeeOther(f"/portal/r/{token}")
