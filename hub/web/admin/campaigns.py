"""Segments and campaigns in the admin API: create, preview, launch, pause, resume, cancel and
progress (the work is :mod:`hub.campaigns.service`; every change is audit-logged in its own
transaction)."""

from __future__ import annotations

from datetime import datetime  # noqa: TC003 (pydantic reads the annotation at run time)
from typing import TYPE_CHECKING, Literal

from pydantic import AwareDatetime, Field
from sqlalchemy import select

from hub.campaigns import service
from hub.store.engine import utcnow
from hub.store.models_campaigns import Campaign, Segment
from hub.web.admin import audit
from hub.web.admin.errors import ApiError
from hub.web.admin.routing import ApiRouter, Call
from hub.web.admin.schemas import FreeForm, IntId, Out, Strict

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from hub.web.admin.routing import Call as CallType

router = ApiRouter(tag="campaigns")

_NAME = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.-]*$")


class SegmentIn(Strict):
    """A new segment."""

    name: str = _NAME
    filter: str = Field(min_length=1, max_length=4000, description="A CEL condition over a "
                        "return and its customer (docs/campaigns.md lists the variables).")


class SegmentOut(Out):
    """A stored segment."""

    id: int
    name: str
    filter: str
    created_at: datetime


class CampaignIn(Strict):
    """A new campaign (created as a draft: nothing is sent before ``launch``)."""

    name: str = _NAME
    segment: str = Field(min_length=1, max_length=100, description="The segment's name.")
    template: str = Field(pattern=r"^campaigns/[a-z0-9][a-z0-9_-]{0,80}$",
                          description="A campaign template, ``campaigns/<name>``.")
    channels: list[str] = Field(min_length=1, max_length=5)
    rate_per_second: float = Field(10.0, gt=0, le=10_000, description="Messages per second.")
    start_at: AwareDatetime | None = Field(None, description="Not before this time (RFC 3339 "
                                           "with an offset); none: at launch.")


class ProgressOut(Out):
    """Counts from the outbox: ``planned`` = queued + paused + sent + failed + skipped;
    ``excluded``: matching customers left out (no consent, no address, opted out)."""

    planned: int
    queued: int
    paused: int
    sent: int
    failed: int
    skipped: int
    excluded: int


class CampaignOut(Out):
    """A campaign and its progress."""

    id: int
    name: str
    segment: str
    template: str
    channels: list[str]
    category: str
    status: str
    start_at: datetime | None
    rate_per_second: float
    planning_done: bool
    progress: ProgressOut


class CampaignList(Out):
    """Every campaign, newest first."""

    items: list[CampaignOut]


class ActionPath(Strict):
    """A campaign and what to do with it."""

    id: int = Field(ge=1, le=2**63 - 1)
    action: Literal["launch", "pause", "resume", "cancel"]


def _recorder(call: CallType, action: str, detail: dict):  # noqa: ANN202
    def record(session: AsyncSession, target: str) -> None:
        audit.record(session, call.token, action, target, detail, utcnow())
    return record


async def _out(call: Call, campaign: Campaign, segment: Segment) -> CampaignOut:
    counts = await service.progress(call.hub, campaign)
    return CampaignOut(
        id=campaign.id, name=campaign.name, segment=segment.name, template=campaign.template,
        channels=list(campaign.channels), category=campaign.category, status=campaign.status,
        start_at=campaign.start_at, rate_per_second=campaign.rate_per_second,
        planning_done=campaign.planning_done, progress=ProgressOut.model_validate(counts))


def _api_error(exc: service.CampaignError) -> ApiError:
    return ApiError(exc.status, exc.code, str(exc), field=exc.field)


@router.route("POST", "/api/segments", summary="Create a segment", scope="admin",
              body=SegmentIn, response=SegmentOut, status=201, audited=True,
              errors={409: "The name is taken.", 422: "The filter does not compile."})
async def create_segment(call: Call) -> SegmentOut:
    """Store a named CEL filter (checked by compiling it)."""
    body: SegmentIn = call.body
    try:
        segment = await service.create_segment(call.hub, body.name, body.filter,
                                               _recorder(call, "segment.create", {}))
    except service.CampaignError as exc:
        raise _api_error(exc) from None
    return SegmentOut.model_validate(segment)


@router.route("POST", "/api/campaigns", summary="Create a draft campaign", scope="admin",
              body=CampaignIn, response=CampaignOut, status=201, audited=True,
              errors={409: "The name is taken.",
                      422: "Unknown segment, channel, or a template without the channel."})
async def create_campaign(call: Call) -> CampaignOut:
    """A campaign in ``draft``: preview it, then launch it."""
    body: CampaignIn = call.body
    try:
        campaign = await service.create_campaign(
            call.hub, name=body.name, segment=body.segment, template=body.template,
            channels=body.channels, rate_per_second=body.rate_per_second,
            start_at=body.start_at, record=_recorder(call, "campaign.create", {}))
        campaign, segment = await service.get_campaign(call.hub, campaign.id)
    except service.CampaignError as exc:
        raise _api_error(exc) from None
    return await _out(call, campaign, segment)


@router.route("GET", "/api/campaigns", summary="List campaigns with their progress",
              scope="read", response=CampaignList)
async def list_campaigns(call: Call) -> CampaignList:
    """Every campaign, newest first, with live counts."""
    async with call.hub.sessionmaker() as session:
        rows = (await session.execute(select(Campaign, Segment).join(
            Segment, Segment.id == Campaign.segment_id).order_by(Campaign.id.desc()))).all()
    return CampaignList(items=[await _out(call, c, s) for c, s in rows])


@router.route("GET", "/api/campaigns/{id}", summary="A campaign and its progress",
              scope="read", path_model=IntId, response=CampaignOut)
async def get_campaign(call: Call) -> CampaignOut:
    """Status and counts: planned, queued, paused, sent, failed, skipped, excluded."""
    try:
        campaign, segment = await service.get_campaign(call.hub, call.path.id)
    except service.CampaignError as exc:
        raise _api_error(exc) from None
    return await _out(call, campaign, segment)


@router.route("GET", "/api/campaigns/{id}/preview", summary="Audience count and a sample "
              "rendering", scope="read", path_model=IntId, response=FreeForm)
async def preview_campaign(call: Call) -> FreeForm:
    """How many returns match, how many customers consent (the audience), and each channel's
    message rendered for the first consenting member's return (without the customer's name)."""
    try:
        campaign, segment = await service.get_campaign(call.hub, call.path.id)
    except service.CampaignError as exc:
        raise _api_error(exc) from None
    return FreeForm(await service.preview(call.hub, campaign, segment))


@router.route("POST", "/api/campaigns/{id}/{action}", summary="Launch, pause, resume or "
              "cancel a campaign", scope="operate", path_model=ActionPath,
              response=CampaignOut, audited=True,
              errors={409: "The campaign's status does not allow the action."})
async def act(call: Call) -> CampaignOut:
    """``launch`` (draft → running, from ``start_at``), ``pause`` (unsent messages parked),
    ``resume``, ``cancel`` (unsent messages skipped; sends in flight finish)."""
    path: ActionPath = call.path
    try:
        await service.change(call.hub, path.id, path.action,
                             _recorder(call, f"campaign.{path.action}", {}))
        campaign, segment = await service.get_campaign(call.hub, path.id)
    except service.CampaignError as exc:
        raise _api_error(exc) from None
    return await _out(call, campaign, segment)
