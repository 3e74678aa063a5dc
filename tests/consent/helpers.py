"""Promotional notifications for the consent tests, as a campaign would plan them."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from hub.runtime import Hub
from hub.store.engine import utcnow
from hub.store.models import Notification, Return


async def plan_promotion(hub: Hub, reference: str, channel: str = "email",
                         template: str | None = None) -> str:
    """One pending promotional message on ``channel`` to the customer of return ``reference``
    (addressed like the return's transactional message on that channel, with its template
    unless ``template`` names another); returns its id."""
    [notification_id] = await plan_promotions(hub, [reference], channel, template)
    return notification_id


async def plan_promotions(hub: Hub, references: list[str], channel: str = "email",
                          template: str | None = None) -> list[str]:
    """:func:`plan_promotion` for several returns in one transaction, as a campaign plans."""
    now = utcnow()
    planned = []
    async with hub.sessionmaker() as session, session.begin():
        for reference in references:
            ret = (await session.execute(select(Return).where(
                Return.external_id == reference))).scalar_one()
            model = (await session.execute(select(Notification).where(
                Notification.return_id == ret.id, Notification.channel == channel)
                .limit(1))).scalar_one()
            notification_id = str(uuid.uuid4())
            session.add(Notification(
                id=notification_id, idempotency_key=f"promo:{notification_id}",
                return_id=ret.id, stage=model.stage, channel=channel, category="promotional",
                template=template or model.template, locale=model.locale,
                recipient_enc=model.recipient_enc, recipient_hash=model.recipient_hash,
                status="pending", attempts=0, next_attempt_at=now, event_received_at=now,
                created_at=now, tried_providers=[]))
            planned.append(notification_id)
    return planned


async def status_of(hub: Hub, notification_id: str) -> tuple[str, str | None]:
    """(status, last error) of one notification."""
    async with hub.sessionmaker() as session:
        row = await session.get(Notification, notification_id)
        return row.status, row.last_error
