"""A campaign message that comes back for another try after its campaign was paused or
cancelled while it was in flight.

Pausing and cancelling move the campaign's waiting messages (``pending``); a send already in
flight finishes. But one that fails for now (a 503, a 429, quiet hours) goes back to
``pending``, and was then sent while the campaign was paused, or after it was cancelled (found
from outside: 16 of 16 sends in flight at a pause). It follows its campaign instead: ``paused``
(resume releases it, once) or ``skipped``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hub.store.campaign_states import campaign_statuses

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncSession

    from hub.domain.outcome import Decision

#: What a retry of a message becomes, by its campaign's status.
HELD = {"paused": {"status": "paused"},
        "cancelled": {"status": "skipped", "last_error": "the campaign was cancelled"}}


def held(values: dict[str, Any], campaign_status: str | None) -> dict[str, Any]:
    """``values`` (a message's next columns) as its campaign's status allows: a retry of a
    message of a paused campaign is parked, of a cancelled one skipped."""
    if values.get("status") != "pending" or campaign_status not in HELD:
        return values
    return {**values, **HELD[campaign_status]}


async def follow_campaigns(session: AsyncSession,
                           decided: Sequence[tuple[Any, Decision]]) -> list[Decision]:
    """The decisions for ``decided`` (notification, decision) pairs, a campaign message's
    retry held with its paused or cancelled campaign (read in ``session``'s transaction)."""
    retried = {notification.campaign_id for notification, decision in decided
               if getattr(notification, "campaign_id", None)
               and decision.values.get("status") == "pending"}
    if not retried:
        return [decision for _, decision in decided]
    states = await campaign_statuses(session, retried)
    out = []
    for notification, decision in decided:
        values = held(decision.values, states.get(getattr(notification, "campaign_id", None)))
        out.append(decision if values is decision.values else
                   type(decision)(values, decision.reported, decision.plan_fallback))
    return out
