"""The campaign planner: turns a running campaign's segment into outbox rows, one batch of
returns per transaction.

Each batch's notifications, the advanced cursor and the pacing clock commit together: a planner
killed mid-batch leaves the cursor where it was, the batch is planned again, and the unique
idempotency key ``campaign:<id>:<channel>:<recipient hash>`` makes the replay insert nothing
twice (a customer with several matching returns, or one person known to two stores under one
address, is also written once). Only customers whose
marketing consent preference is true, with an address on the channel, are planned.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from types import SimpleNamespace
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update

from hub.campaigns.segment import SegmentFilter, evaluate, read_batch
from hub.categories import CAMPAIGN_STAGE
from hub.consent import consented
from hub.logs import get_logger
from hub.store.dialect import insert_ignoring_conflicts, lock_for_update
from hub.store.engine import utcnow
from hub.store.models import Notification
from hub.store.models_campaigns import Campaign, Segment

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from hub.campaigns.segment import Member
    from hub.campaigns.settings import CampaignSettings
    from hub.domain.planner import Planner
    from hub.store.codec import EventCodec

log = get_logger("hub.campaigns")



class CampaignPlanner:
    """Plans running campaigns batch by batch; :meth:`run` loops, :meth:`plan_once` is one
    pass over every running campaign (one batch each)."""

    def __init__(self, sessionmaker: async_sessionmaker, codec: EventCodec, planner: Planner,
                 settings: CampaignSettings) -> None:
        self.sessionmaker = sessionmaker
        self.codec = codec
        self.planner = planner
        self.settings = settings
        self._filters: dict[str, SegmentFilter] = {}

    async def run(self) -> None:
        """Plan running campaigns until cancelled; a failed pass is logged and tried again."""
        while True:
            try:
                busy = await self.plan_once()
            except Exception as exc:  # a database outage: keep the loop, the cursor is durable
                log.error("campaign_planning_failed", error=f"{type(exc).__name__}"[:100])
                busy = 0
            if not busy:
                await asyncio.sleep(self.settings.poll_seconds)

    async def plan_once(self) -> int:
        """Plan one batch of every due running campaign; the number of batches planned."""
        now = utcnow()
        async with self.sessionmaker() as session:
            due = (await session.execute(select(Campaign.id).where(
                Campaign.status == "running", Campaign.planning_done.is_(False),
                (Campaign.start_at.is_(None)) | (Campaign.start_at <= now)))).scalars().all()
        planned = 0
        for campaign_id in due:
            if await self._backlog(campaign_id) < self.settings.batch_size:
                planned += await self.plan_batch(campaign_id)
        await self.finish_done()
        return planned

    async def _backlog(self, campaign_id: int) -> int:
        """Planned messages not yet sent: planning stays this close ahead of sending, so its
        CPU (CEL over every return) is spread over the campaign, not spent at launch."""
        table = Notification.__table__
        async with self.sessionmaker() as session:
            return int(await session.scalar(select(func.count()).where(
                table.c.campaign_id == campaign_id, table.c.status == "pending")) or 0)

    async def finish_done(self) -> None:
        """Mark running campaigns ``done`` once planned to the end with nothing left to send."""
        table = Notification.__table__
        unfinished = select(table.c.id).where(
            table.c.campaign_id == Campaign.id,
            table.c.status.in_(("pending", "sending", "unknown", "paused"))).exists()
        async with self.sessionmaker() as session, session.begin():
            await session.execute(update(Campaign).where(
                Campaign.status == "running", Campaign.planning_done.is_(True), ~unfinished)
                .values(status="done", updated_at=utcnow()))

    async def plan_all(self, campaign_id: int) -> None:
        """Plan a campaign to the end (tests, benchmarks)."""
        while await self.plan_batch(campaign_id):
            pass

    async def plan_batch(self, campaign_id: int) -> int:
        """Plan the next batch of one campaign; 1 if a batch was read.

        The batch is read in a short transaction and evaluated outside any (no lock held while
        CEL runs); the rows, the cursor and the pacing clock are then written in one short
        transaction that first checks, under the campaign's row lock, that the campaign is
        still running at the same cursor (a paused or concurrently planned batch is dropped)."""
        now = utcnow()
        async with self.sessionmaker() as session, session.begin():
            campaign = await session.get(Campaign, campaign_id)
            if campaign is None or campaign.status != "running" or campaign.planning_done:
                return 0
            expression = (await session.get(Segment, campaign.segment_id)).filter
            snapshot = SimpleNamespace(id=campaign.id, cursor=campaign.cursor,
                                       channels=list(campaign.channels),
                                       rate_per_second=campaign.rate_per_second,
                                       pace_at=campaign.pace_at, template=campaign.template)
        batch = await read_batch(self.sessionmaker, after=snapshot.cursor,
                                 limit=self.settings.batch_size)
        segment = self._filter(expression)
        members = await evaluate(segment, self.codec, batch, now)
        members = await self._not_considered(segment, members, snapshot.cursor, now)
        consenting = await self._consenting(snapshot.channels, members)
        rows, excluded = self._rows(snapshot, members, consenting, now)  # no lock held
        async with self.sessionmaker() as session, session.begin():
            campaign = (await session.execute(lock_for_update(session, select(Campaign).where(
                Campaign.id == campaign_id)))).scalar_one()
            if campaign.status != "running" or campaign.cursor != snapshot.cursor:
                return 0
            if batch.last is None:
                campaign.planning_done = True
                campaign.updated_at = now
                return 0
            if rows:
                await session.execute(insert_ignoring_conflicts(
                    session, Notification.__table__, "idempotency_key"), rows)
            campaign.cursor = batch.last
            campaign.excluded += excluded
            campaign.planned += len(rows)
            campaign.pace_at = rows[-1]["next_attempt_at"] if rows else campaign.pace_at
            campaign.updated_at = now
        return 1

    async def _not_considered(self, segment: SegmentFilter, members: list[Member],
                              cursor: int, now: datetime) -> list[Member]:
        """``members`` but those whose customer an earlier batch already planned or left out
        (another of their returns, read before ``cursor``, is in the segment): counted once
        per customer, as the preview counts (found from outside: a customer without consent
        with returns in two batches was counted twice in ``excluded``)."""
        customers = {m.customer.id for m in members if m.customer is not None}
        if not customers or not cursor:
            return members
        earlier = await read_batch(self.sessionmaker, after=0, limit=None, up_to=cursor,
                                   customer_ids=customers)
        considered = {m.customer.id for m in await evaluate(segment, self.codec, earlier, now)
                      if m.customer is not None}
        return [m for m in members if m.customer is None or m.customer.id not in considered]

    def _filter(self, expression: str) -> SegmentFilter:
        compiled = self._filters.get(expression)
        if compiled is None:
            compiled = self._filters[expression] = SegmentFilter(expression)
        return compiled

    async def _consenting(self, channels: list[str], members: list[Member]
                          ) -> dict[str, set[int]]:
        """The members' customers with marketing consent, per channel (hub.consent: the record
        kept with its source and time; the send-time check in delivery stays)."""
        ids = [member.customer.id for member in members if member.customer is not None]
        async with self.sessionmaker() as session:
            return {channel: await consented(session, channel, ids) for channel in channels}

    def _rows(self, campaign: Campaign, members: list[Member],
              consenting: dict[str, set[int]], now: datetime) -> tuple[list[dict], int]:
        """Outbox rows for a batch's members, paced at the campaign's rate; and how many
        members were left out (no consent on the channel, no address, opted out of it)."""
        gap = 1.0 / campaign.rate_per_second
        clock = max(campaign.pace_at or now, now)
        rows, excluded, seen, addressed = [], 0, set(), set()
        for member in members:
            customer = member.customer
            if customer is None or customer.id in seen:
                continue
            seen.add(customer.id)
            contact = self._contact(customer)
            for channel in campaign.channels:
                if customer.id not in consenting[channel]:
                    excluded += 1
                    continue
                address = self.planner.addresses.address(
                    channel, contact.recipient(customer.identity))
                if not address or contact.preferences.get(channel) is False:
                    excluded += 1
                    continue
                recipient = (channel, self.codec.cipher.lookup_hash(address))
                if recipient in addressed:  # another record of the same person (two stores)
                    continue
                addressed.add(recipient)
                clock += timedelta(seconds=gap)
                rows.append(self._row(campaign, member, channel, address, contact, clock, now))
        return rows, excluded

    def _contact(self, customer: object):  # noqa: ANN202
        from hub.domain.planner import Contact

        cipher = self.codec.cipher
        attributes = self.codec.decode_json(customer.attributes_enc) or {}
        return Contact(email=cipher.decrypt(customer.email_enc),
                       phone=cipher.decrypt(customer.phone_enc), locale=customer.locale,
                       timezone=customer.timezone,
                       preferences={k: v for k, v in (customer.preferences or {}).items()
                                    if isinstance(v, bool)},
                       attributes=attributes)

    def _row(self, campaign: Campaign, member: Member, channel: str, address: str,
             contact: object, when: datetime, now: datetime) -> dict:
        cipher = self.codec.cipher
        recipient_hash = cipher.lookup_hash(address)
        return {
            "id": str(uuid.uuid4()),
            # Per address, not per customer record: one person known to two stores (two
            # records, one address) got the promotion twice (found from outside).
            "idempotency_key": f"campaign:{campaign.id}:{channel}:{recipient_hash}",
            "return_id": member.ret.id, "inbox_event_id": None, "stage": CAMPAIGN_STAGE,
            "channel": channel, "template": campaign.template,
            "locale": contact.locale or self.planner.settings.default_locale,
            "recipient_enc": cipher.encrypt(address),
            "recipient_hash": recipient_hash, "status": "pending",
            "attempts": 0, "next_attempt_at": when, "event_received_at": now,
            "created_at": now, "expires_at": None, "tried_providers": [],
            "fallback_of": None, "priority": self.settings.priority,
            "category": "promotional",
            "campaign_id": campaign.id,
        }


async def set_status(session: AsyncSession, campaign: Campaign, status: str,
                     now: datetime) -> None:
    """Move a campaign's unsent messages with it: pausing parks them (``paused``, never
    claimed), resuming releases them, cancelling skips them. Runs in the caller's transaction,
    with the campaign row locked so no planner batch interleaves."""
    table = Notification.__table__
    mine = table.c.campaign_id == campaign.id
    if status == "paused":
        await session.execute(update(table).where(mine, table.c.status == "pending")
                              .values(status="paused"))
    elif status == "running" and campaign.status == "paused":
        await session.execute(update(table).where(mine, table.c.status == "paused")
                              .values(status="pending"))
    elif status == "cancelled":
        await session.execute(update(table).where(
            mine, table.c.status.in_(("pending", "paused")))
            .values(status="skipped", last_error="the campaign was cancelled"))
    campaign.status = status
    campaign.updated_at = now
