"""Campaign statuses read inside an outbox transaction."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from hub.store.dialect import lock_for_share
from hub.store.models_campaigns import Campaign

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy.ext.asyncio import AsyncSession


async def campaign_statuses(session: AsyncSession, ids: Iterable[int]) -> dict[int, str]:
    """The status of each campaign in ``ids``, its row share-locked on PostgreSQL until the
    transaction ends: a pause or cancel (which locks the row to update it) is either seen here
    or waits for this transaction, and then moves what it wrote."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    query = select(Campaign.id, Campaign.status).where(Campaign.id.in_(wanted)).order_by(
        Campaign.id)
    return dict((await session.execute(lock_for_share(session, query))).all())
