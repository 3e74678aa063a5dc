"""Privacy requests: erase a customer's (or a whole shop's) personal data from the hub.

Erasure clears the encrypted contact columns and lookup hashes, the recipients of their
notifications, the item details of their returns, and replaces the stored payloads of their
inbox events (which carry the platform's raw JSON) with a tombstone. Return states, timelines
and delivery statistics stay: they hold no personal data.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import or_, select, update

from hub.domain.customers import customer_identity
from hub.events import EventType, ReturnEvent
from hub.logs import get_logger
from hub.store.dialect import lock_for_update
from hub.store.models import (
    Customer,
    DeliveryReceipt,
    InboxEvent,
    Notification,
    PortalMessage,
    Return,
    TimelineEntry,
)
from hub.store.references import inbox_events_about

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from hub.processing.applier import ClaimedEvent
    from hub.store.codec import EventCodec

log = get_logger("hub.privacy")
_INBOX = InboxEvent.__table__
#: Inbox ids per statement (a shop's erasure may reach many); under SQLite's parameter limit.
_CHUNK = 400


class PrivacyHandler:
    """Carries out privacy events (see :data:`hub.events.PRIVACY_EVENTS`)."""

    def __init__(self, codec: EventCodec) -> None:
        self.codec = codec
        self.cipher = codec.cipher

    async def handle(self, session: AsyncSession, item: ClaimedEvent, now: datetime) -> None:
        """Apply one privacy event inside the caller's transaction."""
        event = item.event
        customers = await self._customers(session, event)
        if event.type is EventType.CUSTOMER_DATA_REQUEST:
            await self._note(session, customers, "customer data requested", item, now)
            log.info("customer_data_requested", customers=len(customers), source=event.source)
        else:
            await self.erase(session, customers, now)
            log.info("customer_data_erased", customers=len(customers), source=event.source,
                     request=event.type.value)
        # The request itself names the customer: keep only its ids.
        await self._tombstone(session, [item.inbox_id])
        await session.execute(update(InboxEvent).where(InboxEvent.id == item.inbox_id).values(
            status="done", processed_at=now, lease_owner=None, lease_until=None)
            .execution_options(synchronize_session=False))

    async def _customers(self, session: AsyncSession, event: ReturnEvent) -> list[Customer]:
        if event.type is EventType.SHOP_REDACT:
            query = select(Customer).where(Customer.id.in_(
                select(Return.customer_id).where(Return.source == event.source)))
            return list((await session.execute(query)).scalars())
        conditions = []
        identity = customer_identity(event.source, event.customer, self.cipher)
        if identity:
            conditions.append(Customer.identity == identity)
        if event.customer and event.customer.email:
            conditions.append(Customer.email_hash == self.cipher.lookup_hash(event.customer.email))
        if event.customer and event.customer.phone:
            conditions.append(Customer.phone_hash == self.cipher.lookup_hash(event.customer.phone))
        if not conditions:
            return []
        return list((await session.execute(select(Customer).where(or_(*conditions)))).scalars())

    async def erase(self, session: AsyncSession, customers: list[Customer], now: datetime) -> int:
        """Erase the personal data of ``customers``; returns how many returns were touched."""
        if not customers:
            return 0
        ids = [c.id for c in customers]
        returns = list((await session.execute(
            select(Return).where(Return.customer_id.in_(ids)))).scalars())
        return_ids = [r.id for r in returns]
        if return_ids:
            # Rows locked in the applier's order, so the two cannot deadlock (PostgreSQL): the
            # inbox rows (still_leased), then the returns in id order (the batch's load), then
            # the customers (its save). The ORM would flush customers before returns.
            # Other systems' events applied to these returns too (an ERP's, a merged return's).
            inbox_ids = await inbox_events_about(session, returns, InboxEvent.id)
            await self._tombstone(session, inbox_ids)
            await session.execute(lock_for_update(session, select(Return.id).where(
                Return.customer_id.in_(ids)).order_by(Return.id)))
        for customer in customers:
            customer.email_enc = customer.phone_enc = customer.name_enc = None
            customer.attributes_enc = None
            customer.email_hash = customer.phone_hash = None
            customer.identity = f"erased:{customer.id}"
            customer.updated_at = now
        for ret in returns:
            ret.details_enc = None
            ret.updated_at = now
        if return_ids:
            notification_ids = select(Notification.id).where(
                Notification.return_id.in_(return_ids))
            await session.execute(update(Notification).where(
                Notification.return_id.in_(return_ids)).values(recipient_enc=None,
                                                                recipient_hash=None)
                .execution_options(synchronize_session=False))
            # Portal notices and provider receipts name the customer too.
            await session.execute(update(PortalMessage).where(
                PortalMessage.notification_id.in_(notification_ids)).values(
                body_enc=self.codec.cipher.encrypt(""), subject=None, customer_key=None)
                .execution_options(synchronize_session=False))
            await session.execute(update(DeliveryReceipt).where(
                DeliveryReceipt.notification_id.in_(notification_ids)).values(raw_enc=None)
                .execution_options(synchronize_session=False))
            session.add_all([TimelineEntry(
                return_id=rid, kind="note", outcome="erased", detail={"what": "customer data"},
                occurred_at=now, recorded_at=now) for rid in return_ids])
        return len(return_ids)

    async def _tombstone(self, session: AsyncSession, inbox_ids: list[int]) -> None:
        """Strip the payloads of ``inbox_ids``, and clear the leases of those still pending:
        a copy a worker read before (claimed, or handed off in memory) is no longer applied,
        and the row is claimed again, stripped (:func:`hub.store.inbox.still_leased`)."""
        for inbox_id in inbox_ids:
            row = await session.get(InboxEvent, inbox_id)
            if row is None:
                continue
            event = self.codec.decode(row.payload_enc)
            erased = event.model_copy(update={"customer": None, "raw": None, "items": []})
            row.payload_enc = self.codec.encode(erased)
        for start in range(0, len(inbox_ids), _CHUNK):
            await session.execute(update(_INBOX).where(
                _INBOX.c.id.in_(inbox_ids[start:start + _CHUNK]), _INBOX.c.status == "pending")
                .values(lease_owner=None, lease_until=None))

    async def _note(self, session: AsyncSession, customers: list[Customer], what: str,
                    item: ClaimedEvent, now: datetime) -> None:
        if not customers:
            return
        return_ids = (await session.execute(select(Return.id).where(
            Return.customer_id.in_([c.id for c in customers])))).scalars()
        session.add_all([TimelineEntry(
            return_id=rid, kind="note", outcome="data_request", inbox_event_id=item.inbox_id,
            detail={"what": what}, occurred_at=now, recorded_at=now) for rid in return_ids])
