"""Rules dry-run: what the merchant's rules would decide for an event, changing nothing."""

from __future__ import annotations

import inspect
from typing import Any

from hub.events import ReturnEvent
from hub.web.admin.errors import ApiError
from hub.web.admin.routing import ApiRouter, Call
from hub.web.admin.schemas import FreeForm
from hub.web.admin.scoping import Scope, event_facets
from hub.web.admin.values import plain

router = ApiRouter(tag="rules")


@router.route("POST", "/api/rules/dry-run", summary="Evaluate the rules against an event "
              "without acting", scope="read", body=ReturnEvent, response=FreeForm,
              errors={403: "The event is outside the token's region or category limits.",
                      501: "This hub has no rules engine."})
async def dry_run(call: Call) -> FreeForm:
    """Posts a normalized event (the ``standard_webhooks`` body format) to the rule engine's
    ``dry_run``; nothing is stored, sent or acted on upstream."""
    engine: Any = getattr(call.hub, "rules", None)
    if engine is None or not hasattr(engine, "dry_run"):
        raise ApiError(501, "not_implemented", "this hub has no rules engine (hub.rules), so "
                       "there is nothing to dry-run")
    event: ReturnEvent = call.body
    if call.token.limited and not Scope(call.hub, call.token).allows(event_facets(event)):
        raise ApiError(403, "outside_limits", "the event's region or categories are outside "
                       "this token's limits")
    result = engine.dry_run(event)
    if inspect.isawaitable(result):
        result = await result
    return FreeForm(plain(result))
