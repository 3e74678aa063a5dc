"""Object-level authorization: which returns a token's region and category limits cover.

The hub stores no plain region column, so a return's facets are read from what its data says:

- **region**: ``region`` or ``shipping_country`` in the return's (encrypted) details, else in
  the ``extra`` of its newest inbox event that has one (``region``, ``shipping_country`` or
  ``country``; Shopify's enrichment sets ``shipping_country``);
- **categories**: the ``category`` of its items (details, else the newest event with items).

A token limited to regions or categories sees a return only when its region, and one of its
categories, are inside the limits; unknown facets are outside (deny by default). Everything
hanging off a return (timeline, notifications, dead letters, customers) follows its return.
Objects outside the limits answer 404, exactly like objects that do not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, tuple_

from hub.domain.fields import REGION_KEYS
from hub.store.models import InboxEvent, Return
from hub.tokens import token_allows_any
from hub.web.admin.errors import not_found

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from hub.events import ReturnEvent
    from hub.runtime import Hub
    from hub.tokens import TokenInfo



@dataclass(frozen=True, slots=True)
class Facets:
    """What limits are checked against."""

    region: str | None = None
    categories: tuple[str, ...] = ()


def _region_in(data: dict[str, Any] | None) -> str | None:
    for key in REGION_KEYS:
        value = (data or {}).get(key)
        if isinstance(value, str) and value.strip():
            return value.strip().upper()
    return None


def _categories_in(items: list[Any] | None) -> tuple[str, ...]:
    found = {str(item.get("category")).strip().lower() for item in items or ()
             if isinstance(item, dict) and item.get("category")}
    return tuple(sorted(found))


def event_facets(event: ReturnEvent) -> Facets:
    """The facets an event carries itself."""
    items = [item.model_dump() for item in event.items]
    return Facets(_region_in(event.extra), _categories_in(items))


class Scope:
    """Facets and visibility of returns for one token."""

    def __init__(self, hub: Hub, token: TokenInfo) -> None:
        self.hub = hub
        self.token = token

    def allows(self, facets: Facets) -> bool:
        """Whether the token's limits cover an object with ``facets``."""
        if not self.token.limited:
            return True
        return token_allows_any(self.token, [facets.region], facets.categories)

    async def facets(self, session: AsyncSession, returns: list[Return]) -> dict[int, Facets]:
        """Facets of each return, by id (see the module docstring)."""
        found: dict[int, Facets] = {}
        missing: dict[tuple[str, str], Return] = {}
        for ret in returns:
            details = self.hub.codec.decode_json(ret.details_enc) or {}
            facets = Facets(_region_in(details), _categories_in(details.get("items")))
            found[ret.id] = facets
            if facets.region is None or not facets.categories:
                missing[(ret.source, ret.external_id)] = ret
        if missing:
            await self._from_inbox(session, missing, found)
        return found

    async def _from_inbox(self, session: AsyncSession, missing: dict[tuple[str, str], Return],
                          found: dict[int, Facets]) -> None:
        rows = await session.execute(
            select(InboxEvent.source, InboxEvent.return_ref, InboxEvent.payload_enc)
            .where(tuple_(InboxEvent.source, InboxEvent.return_ref).in_(list(missing)))
            .order_by(InboxEvent.id.desc()))
        for source, reference, payload in rows:
            ret = missing.get((source, reference))
            if ret is None:
                continue
            facets = found[ret.id]
            if facets.region is not None and facets.categories:
                continue
            try:
                event = self.hub.codec.decode(payload)
            except ValueError:
                continue
            own = event_facets(event)
            found[ret.id] = Facets(facets.region or own.region,
                                   facets.categories or own.categories)

    async def visible(self, session: AsyncSession, returns: list[Return]) -> list[Return]:
        """The returns the token may see, in their order."""
        if not self.token.limited:
            return returns
        facets = await self.facets(session, returns)
        return [ret for ret in returns if self.allows(facets[ret.id])]

    async def get_return(self, session: AsyncSession, return_id: int) -> Return:
        """The return, or 404 when it does not exist or is outside the limits."""
        ret = await session.get(Return, return_id)
        if ret is None or not await self.visible(session, [ret]):
            raise not_found("return")
        return ret

    async def check_return_ids(self, session: AsyncSession, return_ids: set[int]) -> set[int]:
        """Which of ``return_ids`` the token may see."""
        if not self.token.limited or not return_ids:
            return set(return_ids)
        returns = list((await session.execute(
            select(Return).where(Return.id.in_(return_ids)))).scalars())
        return {ret.id for ret in await self.visible(session, returns)}
