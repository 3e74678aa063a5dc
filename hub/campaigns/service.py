"""What the admin API and the dashboard do with segments and campaigns: create, preview,
launch, pause, resume, cancel, and read progress (counted from the outbox itself)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from hub.campaigns.planner import set_status
from hub.campaigns.segment import SegmentError, SegmentFilter, members
from hub.categories import CAMPAIGN_STAGE
from hub.consent import consented
from hub.store.dialect import lock_for_update
from hub.store.engine import utcnow
from hub.store.models import Notification
from hub.store.models_campaigns import Campaign, Segment
from hub.templates import CHANNEL_FILES

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.ext.asyncio import AsyncSession

    from hub.runtime import Hub

    #: Called inside the change's transaction (the admin API's audit entry).
    Recorder = Callable[[AsyncSession, str], None]

#: Which state each action may start from, and where it leads.
TRANSITIONS = {
    "launch": ({"draft"}, "running"),
    "pause": ({"running"}, "paused"),
    "resume": ({"paused"}, "running"),
    "cancel": ({"draft", "running", "paused"}, "cancelled"),
}

#: Outbox statuses grouped into what progress shows.
_PROGRESS = {"pending": "queued", "sending": "queued", "unknown": "queued", "paused": "paused",
             "sent": "sent", "delivered": "sent", "failed": "failed", "dead": "failed",
             "bounced": "failed", "expired": "failed", "skipped": "skipped",
             "superseded": "skipped"}


class CampaignError(Exception):
    """A refusal the API answers with ``status`` and the ``field`` at fault."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.field = status, code, field


@dataclass(slots=True)
class Progress:
    """A campaign's counts: planned rows by outcome, and the customers left out."""

    planned: int
    queued: int
    paused: int
    sent: int
    failed: int
    skipped: int
    excluded: int


def check_filter(expression: str) -> None:
    """Refuse a filter that does not compile (422 naming ``filter``)."""
    try:
        SegmentFilter(expression)
    except SegmentError as exc:
        raise CampaignError(422, "invalid_field", f"the filter does not compile: {exc}",
                            field="filter") from None


async def create_segment(hub: Hub, name: str, expression: str,
                         record: Recorder | None = None) -> Segment:
    """Store a new segment; 409 when the name is taken. ``record`` runs in the same
    transaction with the new segment's target (``segment:<id>``)."""
    check_filter(expression)
    now = utcnow()
    async with hub.sessionmaker() as session, session.begin():
        if await session.scalar(select(Segment.id).where(Segment.name == name)) is not None:
            raise CampaignError(409, "conflict", f"a segment named {name!r} exists", "name")
        segment = Segment(name=name, filter=expression, created_at=now, updated_at=now)
        session.add(segment)
        await session.flush()
        if record is not None:
            record(session, f"segment:{segment.id}")
    return segment


async def create_campaign(hub: Hub, *, name: str, segment: str, template: str,
                          channels: list[str], rate_per_second: float,
                          start_at: datetime | None, record: Recorder | None = None
                          ) -> Campaign:
    """Store a draft campaign after checking its segment, template and channels exist."""
    known = set(hub.settings.channels)
    for channel in channels:
        if channel not in known:
            raise CampaignError(422, "invalid_field", f"no channel named {channel!r} is "
                                "configured", field="channels")
        needed = CHANNEL_FILES.get(channel, (f"{channel}.txt.j2",))[0]
        if hub.renderer.resolve(template, needed, None) is None and channel != "portal":
            raise CampaignError(422, "invalid_field", f"the template {template!r} has no "
                                f"file for {channel}", field="template")
    now = utcnow()
    async with hub.sessionmaker() as session, session.begin():
        segment_id = await session.scalar(select(Segment.id).where(Segment.name == segment))
        if segment_id is None:
            raise CampaignError(422, "invalid_field", f"no segment named {segment!r}",
                                field="segment")
        if await session.scalar(select(Campaign.id).where(Campaign.name == name)) is not None:
            raise CampaignError(409, "conflict", f"a campaign named {name!r} exists", "name")
        campaign = Campaign(name=name, segment_id=segment_id, template=template,
                            channels=channels, category="promotional", status="draft",
                            start_at=start_at, rate_per_second=rate_per_second, cursor=0,
                            planned=0, excluded=0, planning_done=False, created_at=now,
                            updated_at=now)
        session.add(campaign)
        await session.flush()
        if record is not None:
            record(session, f"campaign:{campaign.id}")
    return campaign


async def get_campaign(hub: Hub, campaign_id: int) -> tuple[Campaign, Segment]:
    """The campaign and its segment; 404 when there is none."""
    async with hub.sessionmaker() as session:
        campaign = await session.get(Campaign, campaign_id)
        if campaign is None:
            raise CampaignError(404, "not_found", f"no campaign {campaign_id}")
        return campaign, await session.get(Segment, campaign.segment_id)


async def change(hub: Hub, campaign_id: int, action: str,
                 record: Recorder | None = None) -> Campaign:
    """Launch, pause, resume or cancel; 409 when the campaign's state does not allow it."""
    allowed, target = TRANSITIONS[action]
    async with hub.sessionmaker() as session, session.begin():
        campaign = (await session.execute(lock_for_update(session, select(Campaign).where(
            Campaign.id == campaign_id)))).scalar_one_or_none()
        if campaign is None:
            raise CampaignError(404, "not_found", f"no campaign {campaign_id}")
        if campaign.status not in allowed:
            raise CampaignError(409, "invalid_state", f"cannot {action} a campaign that is "
                                f"{campaign.status}", field="status")
        await set_status(session, campaign, target, utcnow())
        if record is not None:
            record(session, f"campaign:{campaign_id}")
    if hub.dispatcher is not None:
        hub.dispatcher.wake.set()
    return campaign


async def progress(hub: Hub, campaign: Campaign) -> Progress:
    """Counts read from the outbox rows of the campaign (and ``done`` noted when planning
    finished and nothing is left to send)."""
    table = Notification.__table__
    async with hub.sessionmaker() as session:
        rows = (await session.execute(select(table.c.status, func.count()).where(
            table.c.campaign_id == campaign.id).group_by(table.c.status))).all()
    counts = dict.fromkeys(("queued", "paused", "sent", "failed", "skipped"), 0)
    for status, count in rows:
        counts[_PROGRESS.get(status, "queued")] += count
    return Progress(planned=sum(c for _, c in rows), excluded=campaign.excluded, **counts)


async def preview(hub: Hub, campaign: Campaign, segment: Segment, *,
                  batch: int | None = None) -> dict[str, Any]:
    """The audience (segment members, customers with marketing consent on one of the campaign's
    channels) and a sample rendering per channel
    for the first consenting member's return. The sample leaves the customer's name out: a
    preview shows the copy, not a customer's data."""
    matched, customers, found = 0, set(), []
    async for member in members(hub.sessionmaker, SegmentFilter(segment.filter), hub.codec,
                                batch=batch or hub.settings.campaigns.batch_size,
                                now=utcnow()):
        matched += 1
        if member.customer is not None:
            customers.add(member.customer.id)
            found.append(member)
    consenting: set[int] = set()
    async with hub.sessionmaker() as session:
        for channel in campaign.channels:  # consent on any of the campaign's channels
            consenting |= await consented(session, channel, customers)
    sample = next((m.ret for m in found if m.customer.id in consenting), None)
    rendered = {}
    if sample is not None:
        for channel in campaign.channels:
            rendered[channel] = _render(hub, campaign, channel, sample)
    return {"matched_returns": matched, "customers": len(customers),
            "audience": len(consenting), "without_consent": len(customers - consenting),
            "sample": rendered}


def _render(hub: Hub, campaign: Campaign, channel: str, ret: Any) -> dict[str, Any]:
    from hub.content.brand import brand_for
    from hub.content.context import build_context
    from hub.content.verify import SAMPLE_UNSUBSCRIBE
    from hub.templates import TemplateRenderError

    settings = hub.settings.notifications
    # Rendered as the promotional message it will be sent as: its footer, the brand's postal
    # address and an unsubscribe link (a sample one) (found from outside: the preview showed
    # the transactional footer, without either).
    notification = SimpleNamespace(stage=CAMPAIGN_STAGE, channel=channel, id="preview",
                                   locale=settings.default_locale, category="promotional")
    brand = brand_for(settings.brand, settings.brands, ret.source)
    context = build_context(notification=notification, ret=ret, customer=None, brand=brand,
                            codec=hub.codec, default_timezone=settings.default_timezone,
                            unsubscribe_url=SAMPLE_UNSUBSCRIBE)
    try:
        message = hub.renderer.render(campaign.template, channel, context)
    except TemplateRenderError as exc:
        return {"error": str(exc)[:300]}
    return {"subject": message.subject, "text": message.text, "html": message.html}
