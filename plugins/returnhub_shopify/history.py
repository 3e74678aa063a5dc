"""A Shopify store's return history, read through the Admin API: what a store connected late
already has (the core's onboarding decides whether it is skipped or backfilled silently).

Shopify has no list of returns; orders do, and they sort by when they last changed. Each
return of an order changed after the cursor becomes one event of its current status, completed
like a webhook's event (:func:`returnhub_shopify.enrichment.enrich_event`). The cursor is the
order's ``updatedAt``; the dedupe key is the return and its status, so reading the same status
twice (by a later poll, or after a webhook) applies it once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from hub.contract import EventType, RequestRejected, ReturnEvent, timestamp
from returnhub_shopify.enrichment import enrich_event
from returnhub_shopify.queries import RETURN_HISTORY_QUERY, RETURN_QUERY

if TYPE_CHECKING:
    from returnhub_shopify.graphql import AdminApi

#: A Return's status → the event that brings a return there.
STATUS_EVENTS = {
    "REQUESTED": EventType.REQUESTED,
    "OPEN": EventType.APPROVED,
    "DECLINED": EventType.DECLINED,
    "CLOSED": EventType.CLOSED,
    "CANCELED": EventType.CANCELLED,
}


def event_of_return(node: dict[str, Any], *, source: str, changed_at: str) -> ReturnEvent | None:
    """The event that brings a return to ``node``'s status (None: a status the hub does not
    map), dated when its order last changed. Pure."""
    event_type = STATUS_EVENTS.get(str(node.get("status") or "").upper())
    return_id = node.get("id")
    if event_type is None or not isinstance(return_id, str):
        return None
    event = ReturnEvent(type=event_type, return_id=return_id,
                        occurred_at=timestamp(changed_at, "updatedAt"), source=source,
                        source_event_id=f"history:{return_id}:{event_type.value}",
                        extra={"topic": "history"})
    return enrich_event(event, node)


async def read_history(api: AdminApi, cursor: str | None, source: str, log: Any
                       ) -> AsyncIterator[tuple[ReturnEvent | None, str | None]]:
    """``(event, cursor)`` for each return of the orders changed after ``cursor``; an order
    without returns moves the cursor with no event."""
    after = None
    query = f"updated_at:>'{cursor}'" if cursor else None
    while True:
        data = await api.execute(RETURN_HISTORY_QUERY, {"after": after, "query": query})
        orders = (data or {}).get("orders") or {}
        for order in orders.get("nodes") or []:
            changed_at = order.get("updatedAt")
            if not isinstance(changed_at, str):
                continue
            returns = ((order.get("returns") or {}).get("nodes")) or []
            if not returns:
                yield None, changed_at
            for ref in returns:
                node = (await api.execute(RETURN_QUERY, {"id": ref.get("id")})).get("return")
                event = None
                if isinstance(node, dict):
                    try:
                        event = event_of_return(node, source=source, changed_at=changed_at)
                    except RequestRejected as exc:  # one bad return must not hold the rest
                        log.warning("shopify_history_return_skipped", field=exc.field)
                        event = None
                yield event, changed_at
        page = orders.get("pageInfo") or {}
        if not page.get("hasNextPage") or not page.get("endCursor"):
            return
        after = page["endCursor"]
