"""GDPR: export everything the hub holds about a customer, decrypted; erase it.

Erasure reuses :meth:`hub.processing.privacy.PrivacyHandler.erase` (contact details, lookup
hashes, item details, notification recipients, inbox payloads) and also clears what that
handler leaves: the text of the customer's portal notices and the raw provider events of
their delivery receipts (both can name them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from hub import consent
from hub.processing.privacy import PrivacyHandler
from hub.store.engine import utcnow
from hub.store.models import (
    DeliveryAttempt,
    DeliveryReceipt,
    Notification,
    PortalMessage,
    Return,
    TimelineEntry,
)
from hub.store.references import inbox_events_about
from hub.web.admin import audit
from hub.web.admin.customers import get_customer
from hub.web.admin.routing import ApiRouter, Call
from hub.web.admin.schemas import CustomerExport, ErasedOut, IntId
from hub.web.admin.scoping import Scope
from hub.web.admin.serialize import decimal_text

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from hub.runtime import Hub
    from hub.store.models import Customer

router = ApiRouter(tag="customers")


def _decrypt(hub: Hub, token: bytes | None) -> str | None:
    try:
        return hub.cipher.decrypt(token)
    except ValueError:
        return "<cannot be decrypted with the configured keys>"


def _row(obj: Any, *skip: str) -> dict[str, Any]:
    """A row's plain columns (encrypted ones are decrypted by the caller)."""
    data = {}
    for column in obj.__table__.columns:
        if column.key in skip or column.key.endswith("_enc"):
            continue
        value = getattr(obj, column.key)
        if column.key in ("order_total", "refund_amount", "duration_ms"):
            value = decimal_text(value)
        data[column.key] = value
    return data


async def export_customer(session: AsyncSession, hub: Hub, customer: Customer
                          ) -> CustomerExport:
    """Everything about ``customer``: contact, returns with timelines and notifications
    (recipients, attempts, receipts), inbox events, portal notices."""
    returns = list((await session.execute(select(Return).where(
        Return.customer_id == customer.id).order_by(Return.id))).scalars())
    return_ids = [r.id for r in returns]
    notifications = list((await session.execute(select(Notification).where(
        Notification.return_id.in_(return_ids)).order_by(Notification.created_at))).scalars()
        ) if return_ids else []
    notification_ids = [n.id for n in notifications]
    attempts = list((await session.execute(select(DeliveryAttempt).where(
        DeliveryAttempt.notification_id.in_(notification_ids)))).scalars()
        ) if notification_ids else []
    receipts = list((await session.execute(select(DeliveryReceipt).where(
        DeliveryReceipt.notification_id.in_(notification_ids)))).scalars()
        ) if notification_ids else []
    timeline = list((await session.execute(select(TimelineEntry).where(
        TimelineEntry.return_id.in_(return_ids)).order_by(TimelineEntry.id))).scalars()
        ) if return_ids else []
    inbox = await inbox_events_about(session, returns)  # every system's events
    messages = list((await session.execute(select(PortalMessage).where(
        PortalMessage.notification_id.in_(notification_ids)).order_by(PortalMessage.id))
    ).scalars()) if notification_ids else []

    def notification_out(n: Notification) -> dict[str, Any]:
        return {**_row(n, "lease_owner", "lease_until"),
                "recipient": _decrypt(hub, n.recipient_enc),
                "delivery_attempts": [_row(a) for a in attempts if a.notification_id == n.id],
                "receipts": [{**_row(r), "raw": hub.codec.decode_json(r.raw_enc)}
                             for r in receipts if r.notification_id == n.id]}

    return CustomerExport(
        exported_at=utcnow(),
        customer={**_row(customer), "email": _decrypt(hub, customer.email_enc),
                  "phone": _decrypt(hub, customer.phone_enc),
                  "name": _decrypt(hub, customer.name_enc),
                  "attributes": hub.codec.decode_json(customer.attributes_enc),
                  "marketing_consent": [_row(c) for c in await consent.history(
                      session, customer.id)]},
        returns=[{**_row(r), "details": hub.codec.decode_json(r.details_enc),
                  "timeline": [_row(t) for t in timeline if t.return_id == r.id],
                  "notifications": [notification_out(n) for n in notifications
                                    if n.return_id == r.id]} for r in returns],
        inbox_events=[{**_row(e, "lease_owner", "lease_until"),
                       "payload": hub.codec.decode(e.payload_enc).model_dump(mode="json")}
                      for e in inbox],
        portal_messages=[{**_row(m), "body": _decrypt(hub, m.body_enc)} for m in messages])


async def erase_customer(session: AsyncSession, hub: Hub, customer: Customer) -> int:
    """Erase the customer's personal data (the same erasure as a platform's redact request,
    portal notices and provider receipts included); returns how many returns were touched."""
    return await PrivacyHandler(hub.codec).erase(session, [customer], utcnow())


@router.route("GET", "/api/customers/{id}/export", summary="GDPR export: everything the hub "
              "holds about a customer, decrypted", scope="admin", path_model=IntId,
              response=CustomerExport, audited=True,
              errors={404: "No such customer, or outside the token's limits."})
async def export_customer_endpoint(call: Call) -> CustomerExport:
    """Audit-logged like a write: it discloses personal data."""
    async with call.hub.sessionmaker() as session, session.begin():
        customer = await get_customer(session, Scope(call.hub, call.token), call.path.id)
        export = await export_customer(session, call.hub, customer)
        audit.record(session, call.token, "customer.export", f"customer:{customer.id}",
                     {"returns": len(export.returns)}, utcnow())
    return export


@router.route("POST", "/api/customers/{id}/erase", summary="GDPR erasure of a customer's "
              "personal data", scope="admin", path_model=IntId, response=ErasedOut,
              audited=True, errors={404: "No such customer, or outside the token's limits."})
async def erase_customer_endpoint(call: Call) -> ErasedOut:
    """Clears contact details, lookup hashes, item details, recipients, inbox payloads, portal
    notice texts and raw receipts. States, timelines and statistics stay (no personal data)."""
    async with call.hub.sessionmaker() as session, session.begin():
        customer = await get_customer(session, Scope(call.hub, call.token), call.path.id)
        touched = await erase_customer(session, call.hub, customer)
        audit.record(session, call.token, "customer.erase", f"customer:{customer.id}",
                     {"returns_touched": touched}, utcnow())
    return ErasedOut(customer_id=call.path.id, returns_touched=touched)
