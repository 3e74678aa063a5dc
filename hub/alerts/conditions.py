"""What each rule kind measures: the subjects for which its condition holds now.

Every check reads the store only (so any node sees what every node did) and reports numbers
and connector names, never message content or customer data.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import distinct, func, select

from hub.store.models import DeliveryReceipt, InboxEvent, Notification, ProviderHealth
from hub.store.models_campaigns import Campaign

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncSession

    from hub.alerts.settings import AlertRule

#: Gaps between a source's latest events that its "usual gap" is learned from.
HISTORY_EVENTS = 50
#: Fewer gaps than this: too little history to learn from (no alert without a fixed limit).
MIN_GAPS = 5
#: Notification statuses that are dead letters of the outbox; the inbox's is ``failed``.
DEAD_OUTBOX = ("dead", "failed")


@dataclass(frozen=True, slots=True)
class Finding:
    """The condition holds for ``subject``: ``value`` measured, ``summary`` in words."""

    subject: str
    value: float
    summary: str


def _wanted(rule: AlertRule, subject: str) -> bool:
    return rule.subjects is None or subject in rule.subjects


async def breaker_open(session: AsyncSession, rule: AlertRule, now: datetime,
                       _sources: list[str]) -> list[Finding]:
    """Providers whose breaker (as last written by any node) has been open ``minutes``."""
    limit = now - timedelta(minutes=rule.minutes)
    rows = (await session.execute(select(ProviderHealth.provider, ProviderHealth.opened_at)
                                  .where(ProviderHealth.state != "closed",
                                         ProviderHealth.opened_at.is_not(None),
                                         ProviderHealth.opened_at <= limit))).all()
    found = []
    for provider, opened_at in rows:
        if _wanted(rule, provider):
            minutes = (now - opened_at).total_seconds() / 60
            found.append(Finding(provider, round(minutes, 2), f"circuit breaker of {provider} "
                                 f"open for {minutes:.1f} min"))
    return found


async def dead_letters(session: AsyncSession, rule: AlertRule, _now: datetime,
                       _sources: list[str]) -> list[Finding]:
    """The inbox and the outbox, each when it holds more than ``threshold`` dead letters."""
    inbox = (await session.execute(select(func.count()).select_from(InboxEvent)
                                   .where(InboxEvent.status == "failed"))).scalar_one()
    outbox = (await session.execute(select(func.count()).select_from(Notification)
                                    .where(Notification.status.in_(DEAD_OUTBOX)))).scalar_one()
    return [Finding(name, float(count), f"{count} dead letters in the {name}")
            for name, count in (("inbox", inbox), ("outbox", outbox))
            if count > rule.threshold and _wanted(rule, name)]


async def _receipt_rate(session: AsyncSession, rule: AlertRule, now: datetime,
                        statuses: tuple[str, ...], what: str) -> list[Finding]:
    since = now - timedelta(minutes=rule.window_minutes)
    sent = dict((await session.execute(
        select(Notification.provider, func.count()).where(
            Notification.sent_at >= since, Notification.provider.is_not(None))
        .group_by(Notification.provider))).all())
    bad = dict((await session.execute(
        select(DeliveryReceipt.provider, func.count(distinct(DeliveryReceipt.notification_id)))
        .where(DeliveryReceipt.received_at >= since, DeliveryReceipt.status.in_(statuses))
        .group_by(DeliveryReceipt.provider))).all())
    found = []
    for provider, count in sorted(sent.items()):
        rate = bad.get(provider, 0) / count
        if count >= rule.min_messages and rate > rule.threshold and _wanted(rule, provider):
            found.append(Finding(provider, round(rate, 4), f"{what} rate of {provider} "
                                 f"{rate:.1%} over {count} messages in "
                                 f"{rule.window_minutes:g} min"))
    return found


async def bounce_rate(session: AsyncSession, rule: AlertRule, now: datetime,
                      _sources: list[str]) -> list[Finding]:
    """Providers whose messages of the window bounced above ``threshold``."""
    return await _receipt_rate(session, rule, now, ("bounced",), "bounce")


async def complaint_rate(session: AsyncSession, rule: AlertRule, now: datetime,
                         _sources: list[str]) -> list[Finding]:
    """Providers whose messages of the window drew spam complaints above ``threshold``."""
    return await _receipt_rate(session, rule, now, ("complained",), "complaint")


def silence_limit(rule: AlertRule, arrivals: list[datetime]) -> timedelta | None:
    """How long a source may stay silent: the configured limit, or ``factor`` times the
    median gap between ``arrivals`` (newest first), at least ``floor_minutes``; None when
    there is too little history to tell."""
    if rule.max_silence_minutes is not None:
        return timedelta(minutes=rule.max_silence_minutes)
    gaps = [(a - b).total_seconds() for a, b in zip(arrivals, arrivals[1:], strict=False)]
    if len(gaps) < MIN_GAPS:
        return None
    usual = statistics.median(gaps)
    return timedelta(seconds=max(rule.floor_minutes * 60, rule.factor * usual))


async def source_silent(session: AsyncSession, rule: AlertRule, now: datetime,
                        sources: list[str]) -> list[Finding]:
    """Configured sources silent for longer than their limit (:func:`silence_limit`)."""
    found = []
    for source in sources:
        if not _wanted(rule, source):
            continue
        arrivals = list((await session.execute(
            select(InboxEvent.received_at).where(InboxEvent.source == source)
            .order_by(InboxEvent.received_at.desc()).limit(HISTORY_EVENTS + 1))).scalars())
        if not arrivals:
            continue  # never heard from: nothing to compare with
        limit = silence_limit(rule, arrivals)
        silent = now - arrivals[0]
        if limit is not None and silent > limit:
            minutes = silent.total_seconds() / 60
            found.append(Finding(source, round(minutes, 2), f"no event from {source} for "
                                 f"{minutes:.0f} min (limit {limit.total_seconds() / 60:.0f} "
                                 "min)"))
    return found


#: A campaign's messages that reached an outcome, and those of them that failed.
CAMPAIGN_DONE = ("sent", "delivered", "failed", "dead", "bounced")
CAMPAIGN_FAILED = ("failed", "dead", "bounced")


async def campaign_failing(session: AsyncSession, rule: AlertRule, now: datetime,
                           _sources: list[str]) -> list[Finding]:
    """Campaigns running (or changed within ``window_minutes``) whose finished messages failed
    above ``threshold``; the subject is the campaign's name."""
    since = now - timedelta(minutes=rule.window_minutes)
    campaigns = (await session.execute(select(Campaign.id, Campaign.name).where(
        (Campaign.status == "running") | (Campaign.updated_at >= since)))).all()
    found = []
    for campaign_id, name in campaigns:
        if not _wanted(rule, name):
            continue
        counts = dict((await session.execute(
            select(Notification.status, func.count()).where(
                Notification.campaign_id == campaign_id,
                Notification.status.in_(CAMPAIGN_DONE)).group_by(Notification.status))).all())
        finished = sum(counts.values())
        failed = sum(counts.get(status, 0) for status in CAMPAIGN_FAILED)
        if finished >= rule.min_messages and failed / finished > rule.threshold:
            rate = failed / finished
            found.append(Finding(name, round(rate, 4), f"campaign {name}: {rate:.1%} of "
                                 f"{finished} finished messages failed"))
    return found


#: The check of each rule kind.
CHECKS: dict[str, Callable[[AsyncSession, AlertRule, datetime, list[str]],
                           Awaitable[list[Finding]]]] = {
    "breaker_open": breaker_open, "dead_letters": dead_letters, "bounce_rate": bounce_rate,
    "complaint_rate": complaint_rate, "source_silent": source_silent,
    "campaign_failing": campaign_failing,
}
