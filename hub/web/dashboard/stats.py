"""The dashboard's numbers, computed from the database over a window of days.

Each figure's definition is in docs/dashboard.md; in short:

- delivery success rate: (sent + delivered) / (sent + delivered + bounced + failed + dead)
  among notifications created in the window;
- time to notify (also "time to status update"): ``sent_at - event_received_at`` of
  notifications sent in the window (mean, p50, p95; the newest 50,000 at most);
- bounce and failure rates per channel and provider and day;
- return completion time: first event of a return to the first time it reached refunded,
  exchange shipped or closed (timeline), for returns completed in the window;
- "where is my return" deflection: active returns whose customer got a proactive update
  (an email or SMS sent or delivered) or opened the portal page (``portal_views``), out of the
  returns active in the window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from hub.domain.effects import TEAM_STAGE
from hub.store.engine import utcnow
from hub.store.models import InboxEvent, Notification, PortalView, TimelineEntry
from hub.web.metrics import QUEUE_STATUSES, TRIGGERED, latency_seconds

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

#: Statuses that mean the provider took the message.
SUCCESS = ("sent", "delivered")
#: Statuses that mean it did not reach the customer on that channel.
FAILURE = ("bounced", "failed", "dead")
#: States that complete a return.
COMPLETED_STATES = ("refunded", "exchange_shipped", "closed")
#: Channels whose messages are proactive updates to the customer (not the portal itself).
PROACTIVE_CHANNELS = ("email", "sms")
#: A return update that reached its customer: not the support team's email, not a campaign.
_TOLD_THE_CUSTOMER = (Notification.channel.in_(PROACTIVE_CHANNELS),
                      Notification.status.in_(SUCCESS), Notification.stage != TEAM_STAGE,
                      Notification.campaign_id.is_(None),
                      Notification.category == "transactional")
#: At most this many latencies are read for the percentiles.
LATENCY_SAMPLE = 50_000


def percentile(values: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile of sorted ``values`` (None when empty)."""
    if not values:
        return None
    rank = max(1, math.ceil(fraction * len(values)))
    return values[rank - 1]


def rate(part: int, whole: int) -> float | None:
    """``part / whole`` as a percentage (None when nothing was counted)."""
    return round(100.0 * part / whole, 1) if whole else None


@dataclass(slots=True)
class Stats:
    """Everything the dashboard shows."""

    days: int
    since: datetime
    delivered: int = 0
    failed: int = 0
    success_rate: float | None = None
    per_channel: dict[str, dict[str, Any]] = field(default_factory=dict)
    notify_count: int = 0
    notify_mean: float | None = None
    notify_p50: float | None = None
    notify_p95: float | None = None
    completion_count: int = 0
    completion_mean: float | None = None
    completion_p50: float | None = None
    queue: dict[str, int] = field(default_factory=dict)
    oldest_pending_seconds: float | None = None
    inbox_backlog: int = 0
    active_returns: int = 0
    portal_viewed_returns: int = 0
    proactive_returns: int = 0
    proactive_updates: int = 0
    deflection_rate: float | None = None
    series: dict[str, Any] = field(default_factory=dict)


def _day(session: AsyncSession, column: Any) -> Any:
    if session.bind.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.strftime("%Y-%m-%d", column)


async def compute_stats(session: AsyncSession, days: int) -> Stats:
    """Every figure over the last ``days`` days."""
    now = utcnow()
    stats = Stats(days=days, since=now - timedelta(days=days))
    await _delivery(session, stats)
    await _time_to_notify(session, stats)
    await _completion(session, stats)
    await _queue(session, stats, now)
    await _deflection(session, stats)
    await _series(session, stats, now)
    return stats


async def _delivery(session: AsyncSession, stats: Stats) -> None:
    rows = await session.execute(select(Notification.channel, Notification.status, func.count())
                                 .where(Notification.created_at >= stats.since)
                                 .group_by(Notification.channel, Notification.status))
    for channel, status, count in rows:
        entry = stats.per_channel.setdefault(channel, {"ok": 0, "failed": 0, "bounced": 0})
        if status in SUCCESS:
            entry["ok"] += count
            stats.delivered += count
        elif status in FAILURE:
            entry["failed"] += count
            entry["bounced"] += count if status == "bounced" else 0
            stats.failed += count
    for entry in stats.per_channel.values():
        entry["rate"] = rate(entry["ok"], entry["ok"] + entry["failed"])
    stats.success_rate = rate(stats.delivered, stats.delivered + stats.failed)


async def _time_to_notify(session: AsyncSession, stats: Stats) -> None:
    seconds = latency_seconds(session.bind.dialect.name)
    values = sorted(max(0.0, float(v)) for v in (await session.execute(
        select(seconds).where(Notification.sent_at >= stats.since, TRIGGERED)
        .order_by(Notification.sent_at.desc()).limit(LATENCY_SAMPLE))).scalars() if v is not None)
    stats.notify_count = len(values)
    if values:
        stats.notify_mean = sum(values) / len(values)
        stats.notify_p50 = percentile(values, 0.50)
        stats.notify_p95 = percentile(values, 0.95)


async def _completion(session: AsyncSession, stats: Stats) -> None:
    done = (select(TimelineEntry.return_id, func.min(TimelineEntry.occurred_at).label("at"))
            .where(TimelineEntry.kind == "event", TimelineEntry.outcome == "moved",
                   TimelineEntry.to_state.in_(COMPLETED_STATES))
            .group_by(TimelineEntry.return_id).subquery())
    start = (select(TimelineEntry.return_id, func.min(TimelineEntry.occurred_at).label("at"))
             .where(TimelineEntry.kind == "event").group_by(TimelineEntry.return_id).subquery())
    rows = (await session.execute(select(start.c.at, done.c.at).join(
        done, done.c.return_id == start.c.return_id).where(done.c.at >= stats.since))).all()
    durations = sorted(max(0.0, (_aware(end) - _aware(begin)).total_seconds())
                       for begin, end in rows)
    stats.completion_count = len(durations)
    if durations:
        stats.completion_mean = sum(durations) / len(durations)
        stats.completion_p50 = percentile(durations, 0.50)


def _aware(value: Any) -> datetime:
    """Aggregates over a subquery can lose the column type (SQLite returns text)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def _queue(session: AsyncSession, stats: Stats, now: datetime) -> None:
    counts = dict((await session.execute(select(Notification.status, func.count()).where(
        Notification.status.in_(QUEUE_STATUSES)).group_by(Notification.status))).all())
    stats.queue = {s: int(counts.get(s, 0)) for s in QUEUE_STATUSES}
    oldest = (await session.execute(select(func.min(Notification.created_at)).where(
        Notification.status.in_(QUEUE_STATUSES)))).scalar_one()
    if oldest is not None:
        stats.oldest_pending_seconds = max(0.0, (now - _aware(oldest)).total_seconds())
    stats.inbox_backlog = int((await session.execute(select(func.count()).select_from(
        InboxEvent).where(InboxEvent.status == "pending"))).scalar_one())


async def _deflection(session: AsyncSession, stats: Stats) -> None:
    active = select(TimelineEntry.return_id).where(
        TimelineEntry.kind == "event", TimelineEntry.occurred_at >= stats.since).distinct()
    stats.active_returns = int((await session.execute(
        select(func.count()).select_from(active.subquery()))).scalar_one())
    viewed = (select(PortalView.return_id).where(PortalView.viewed_at >= stats.since)
              .distinct())
    proactive = (select(Notification.return_id).where(*_TOLD_THE_CUSTOMER,
                                                      Notification.sent_at >= stats.since)
                 .distinct())
    stats.portal_viewed_returns = int((await session.execute(
        select(func.count()).select_from(viewed.subquery()))).scalar_one())
    stats.proactive_returns = int((await session.execute(
        select(func.count()).select_from(proactive.subquery()))).scalar_one())
    stats.proactive_updates = int((await session.execute(select(func.count()).select_from(
        Notification).where(*_TOLD_THE_CUSTOMER, Notification.sent_at >= stats.since)
    )).scalar_one())
    covered = int((await session.execute(select(func.count()).select_from(
        active.where(TimelineEntry.return_id.in_(viewed.union(proactive))).subquery())
    )).scalar_one())
    stats.deflection_rate = rate(covered, stats.active_returns)


async def _series(session: AsyncSession, stats: Stats, now: datetime) -> None:
    """Per day and (channel, provider): finished messages, bounce and failure rates."""
    day = _day(session, Notification.created_at)
    rows = await session.execute(
        select(day, Notification.channel, Notification.provider, Notification.status,
               func.count())
        .where(Notification.created_at >= stats.since,
               Notification.status.in_((*SUCCESS, *FAILURE)))
        .group_by(day, Notification.channel, Notification.provider, Notification.status))
    days = [(stats.since + timedelta(days=i + 1)).strftime("%Y-%m-%d")
            for i in range(stats.days)]
    if days[-1] != now.strftime("%Y-%m-%d"):
        days.append(now.strftime("%Y-%m-%d"))
    counts: dict[str, dict[str, dict[str, int]]] = {}
    for bucket, channel, provider, status, count in rows:
        name = f"{channel} / {provider or 'none'}"
        cell = counts.setdefault(name, {}).setdefault(
            str(bucket), {"total": 0, "bounced": 0, "failed": 0})
        cell["total"] += count
        if status == "bounced":
            cell["bounced"] += count
        elif status in ("failed", "dead"):
            cell["failed"] += count
    series = []
    for name, by_day in sorted(counts.items()):
        series.append({
            "name": name,
            "total": [by_day.get(d, {}).get("total", 0) for d in days],
            "bounce_rate": [rate(by_day[d]["bounced"], by_day[d]["total"]) if d in by_day
                            else None for d in days],
            "failure_rate": [rate(by_day[d]["failed"], by_day[d]["total"]) if d in by_day
                             else None for d in days],
        })
    stats.series = {"days": days, "series": series}
