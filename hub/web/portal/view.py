"""What the customer's return page shows, read from the database for one signed claim.

Only the claimed return is ever loaded (by source and reference from the verified token), and
only customer-facing facts leave this module: the first name, stages in plain words, tracking,
refund status and the return's in-app notices. No email, phone, address, internal error or
other return.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update

from hub.content.context import first_name
from hub.domain.timing import customer_zone
from hub.formatting import format_date, format_money
from hub.store.engine import utcnow
from hub.store.models import Customer, Notification, PortalMessage, Return, TimelineEntry
from hub.store.references import returns_by_own_id
from hub.web.portal.wording import (
    DEFAULT_LANGUAGE,
    EXCEPTION,
    portal_language,
    stage_wording,
    words,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from hub.portal_links import PortalClaim
    from hub.runtime import Hub


@dataclass(slots=True)
class Stage:
    """One step on the customer's timeline."""

    key: str
    title: str
    text: str
    at: str


@dataclass(slots=True)
class Notice:
    """One in-app notice."""

    id: int
    subject: str
    body: str
    at: str
    unread: bool


@dataclass(slots=True)
class PortalView:
    """Everything the page renders (and the live updates send)."""

    store_name: str
    primary_color: str
    support_email: str | None
    first_name: str | None
    reference: str
    order_number: str | None
    state: str
    state_title: str
    state_text: str
    stages: list[Stage]
    notices: list[Notice]
    carrier: str | None
    tracking_number: str | None
    tracking_url: str | None
    label_url: str | None
    refund: str | None
    version: str
    locale: str = "en"
    #: The language the page speaks (hub.web.portal.wording).
    language: str = DEFAULT_LANGUAGE

    @property
    def words(self) -> dict[str, str]:
        """The page's own words in its language."""
        return words(self.language)

    def as_json(self) -> dict[str, Any]:
        """The live-update payload."""
        return {"state": self.state, "state_title": self.state_title,
                "state_text": self.state_text,
                "stages": [{"key": s.key, "title": s.title, "text": s.text, "at": s.at}
                           for s in self.stages],
                "notices": [{"id": n.id, "subject": n.subject, "body": n.body, "at": n.at}
                            for n in self.notices],
                "tracking_url": self.tracking_url, "tracking_number": self.tracking_number,
                "carrier": self.carrier, "refund": self.refund, "version": self.version,
                "tracking_word": self.words["tracking"]}


def safe_link(url: str | None) -> str | None:
    """Only http(s) links reach the page (never ``javascript:`` or ``data:``)."""
    if url and url.strip().lower().startswith(("https://", "http://")):
        return url.strip()
    return None


async def find_return(session: AsyncSession, claim: PortalClaim) -> Return | None:
    """The return the claim names, and only that one: by the key it was created under, else
    by its ``id`` reference (a link sent for a return since merged into another)."""
    ret = (await session.execute(select(Return).where(
        Return.source == claim.source, Return.external_id == claim.reference))
    ).scalar_one_or_none()
    if ret is None:
        ret = await returns_by_own_id(session, claim.source, claim.reference)
    return ret


async def version_of(session: AsyncSession, ret: Return) -> str:
    """A cheap fingerprint of what the page shows: newest timeline entry and notice ids."""
    timeline = (await session.execute(select(func.max(TimelineEntry.id)).where(
        TimelineEntry.return_id == ret.id))).scalar_one() or 0
    notices = (await session.execute(select(func.max(PortalMessage.id)).where(
        PortalMessage.notification_id.in_(
            select(Notification.id).where(Notification.return_id == ret.id))))).scalar_one() or 0
    return f"{timeline}.{notices}"


def _when(value: datetime | None, locale: str, zone: tzinfo) -> str:
    return format_date(value, locale, zone=zone) if value else ""


def _refund(ret: Return, locale: str, said: dict[str, str]) -> str | None:
    amount = format_money(ret.refund_amount, ret.currency, locale)
    if ret.state == "refunded" or (ret.state == "closed" and amount and ret.refund_method):
        return said["refunded_amount"].format(amount=amount) if amount else said["refunded"]
    if ret.state in ("declined", "cancelled", "expired"):
        return None
    if ret.state == "exchange_shipped":
        return said["exchanged"]
    return said["expected_refund"].format(amount=amount) if amount else None


async def load_view(session: AsyncSession, hub: Hub, ret: Return, *,
                    mark_read: bool) -> PortalView:
    """Build the page's content for ``ret``; marks its notices read when asked."""
    customer = await session.get(Customer, ret.customer_id) if ret.customer_id else None
    locale = (customer.locale if customer and customer.locale
              else hub.settings.notifications.default_locale)
    name = hub.cipher.decrypt(customer.name_enc) if customer and customer.name_enc else None
    language = portal_language(locale)
    zone = customer_zone(customer.timezone if customer else None,
                         hub.settings.notifications.default_timezone)
    entries = list((await session.execute(select(TimelineEntry).where(
        TimelineEntry.return_id == ret.id, TimelineEntry.kind == "event",
        TimelineEntry.outcome.in_(("moved", "flagged"))).order_by(TimelineEntry.id))).scalars())
    stages = []
    for entry in entries:
        if entry.outcome == "flagged":
            title, text = stage_wording(EXCEPTION, language)
            key = EXCEPTION
        else:
            title, text = stage_wording(entry.to_state, language)
            key = entry.to_state or "update"
        stages.append(Stage(key, title, text, _when(entry.occurred_at, locale, zone)))
    messages = list((await session.execute(select(PortalMessage).where(
        PortalMessage.notification_id.in_(select(Notification.id).where(
            Notification.return_id == ret.id))).order_by(PortalMessage.id.desc()))).scalars())
    notices = []
    for message in messages:
        try:
            body = hub.cipher.decrypt(message.body_enc) or ""
        except ValueError:
            continue
        if body:
            notices.append(Notice(message.id, message.subject or "", body,
                                  _when(message.created_at, locale, zone), message.read_at is None))
    if mark_read and any(n.unread for n in notices):
        await session.execute(update(PortalMessage).where(
            PortalMessage.id.in_([n.id for n in notices if n.unread]),
            PortalMessage.read_at.is_(None)).values(read_at=utcnow())
            .execution_options(synchronize_session=False))
    brand = hub.settings.notifications.brand
    override = hub.settings.notifications.brands.get(ret.source)
    title, text = stage_wording(ret.state, language)
    return PortalView(
        store_name=(override and override.store_name) or brand.store_name,
        primary_color=(override and override.primary_color) or brand.primary_color,
        support_email=(override and override.support_email) or brand.support_email,
        first_name=first_name(name), reference=ret.customer_reference or ret.external_id,
        order_number=ret.order_number,
        state=ret.state, state_title=title, state_text=text, stages=stages, notices=notices,
        carrier=ret.carrier, tracking_number=ret.tracking_number,
        tracking_url=safe_link(ret.tracking_url), label_url=safe_link(ret.label_url),
        refund=_refund(ret, locale, words(language)), version=await version_of(session, ret),
        locale=locale, language=language)
