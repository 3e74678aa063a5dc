"""Engagement and provider health figures over a window of days (docs/engagement.md says
exactly what each one means).

- Rates per stage, campaign, provider and template: among messages a provider took
  (``sent_at`` in the window, channel email or SMS), the share opened (an open or a click),
  clicked, bounced (status ``bounced``), unsubscribed and complained (spam report).
- Provider latency p50/p95 (nearest rank over ``delivery_attempts.duration_ms``) and
  availability (calls answered / calls made) per provider and day.
- Customer response: messages followed, within N days, by a portal visit to the same return
  or a reply to the message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, case, func, select

from hub.store.engine import utcnow
from hub.store.models import DeliveryAttempt, Notification, PortalView
from hub.store.models_engagement import MessageEngagement
from hub.web.dashboard.stats import PROACTIVE_CHANNELS, percentile, rate

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

#: The groupings the rate tables offer ("campaign": ``notifications.campaign_id``; messages
#: outside any campaign are in "none").
DIMENSIONS = ("stage", "campaign", "provider", "template")
#: Engagement kinds counted per message, in table order.
KINDS = ("open", "click", "unsubscribe", "complaint")
#: Attempt outcomes where the provider answered (any answer, a refusal or 4xx included); the
#: others (``transient``: 5xx, connection error, timeout before sending; ``unknown``: no
#: answer after the request went out) count as not answered.
ANSWERED = ("accepted", "rate_limited", "permanent", "refused", "misconfigured")
#: At most this many rows are read for the Python-side figures.
SAMPLE = 100_000


@dataclass(slots=True)
class RateRow:
    """Counts and rates of one group (one stage, campaign, provider or template)."""

    key: str
    sent: int = 0
    opened: int = 0
    clicked: int = 0
    bounced: int = 0
    unsubscribed: int = 0
    complained: int = 0

    def rates(self) -> dict[str, float | None]:
        """Each count as a percentage of ``sent``."""
        return {name: rate(getattr(self, name), self.sent) for name in
                ("opened", "clicked", "bounced", "unsubscribed", "complained")}


@dataclass(slots=True)
class ProviderDay:
    """One provider's calls on one day (UTC)."""

    provider: str
    day: str
    calls: int
    answered: int
    p50_ms: float | None
    p95_ms: float | None

    @property
    def availability(self) -> float | None:
        """Calls answered as a percentage of calls made."""
        return rate(self.answered, self.calls)


@dataclass(slots=True)
class Engagement:
    """Everything the engagement page shows."""

    days: int
    since: datetime
    response_days: int
    rates: dict[str, list[RateRow]] = field(default_factory=dict)
    providers: list[ProviderDay] = field(default_factory=list)
    response: list[dict[str, Any]] = field(default_factory=list)


async def compute_engagement(session: AsyncSession, days: int, response_days: int,
                             now: datetime | None = None) -> Engagement:
    """Every engagement figure over the ``days`` days before ``now``."""
    now = now or utcnow()
    result = Engagement(days=days, since=now - timedelta(days=days),
                        response_days=response_days)
    result.rates = await all_rates(session, result.since)
    result.providers = await provider_days(session, result.since)
    result.response = await customer_response(session, result.since, response_days, now)
    return result


def _sent_in(since: datetime) -> Any:
    return and_(Notification.sent_at >= since, Notification.provider.is_not(None),
                Notification.channel.in_(PROACTIVE_CHANNELS))


#: The columns of each grouping.
_GROUP_COLUMNS = {"stage": Notification.stage, "campaign": Notification.campaign_id,
                  "provider": Notification.provider, "template": Notification.template}


def _has(kinds: tuple[str, ...]) -> Any:
    """How many distinct messages of the group have an engagement row of one of ``kinds``."""
    return func.count(func.distinct(case(
        (MessageEngagement.kind.in_(kinds), Notification.id))))


async def all_rates(session: AsyncSession, since: datetime) -> dict[str, list[RateRow]]:
    """Open, click, bounce, unsubscribe and complaint rates per value of each grouping.

    One query over the window, grouped by every grouping column at once (each message falls in
    exactly one such cell), then summed per grouping here: a quarter of the work of one query
    per grouping. Messages are joined to their engagement rows (up to one per kind), so every
    count is of distinct messages."""
    columns = list(_GROUP_COLUMNS.values())
    query = (select(*columns, func.count(func.distinct(Notification.id)),
                    func.count(func.distinct(case((Notification.status == "bounced",
                                                   Notification.id)))),
                    _has(("open", "click")), _has(("click",)), _has(("unsubscribe",)),
                    _has(("complaint",)))
             .select_from(Notification)
             .outerjoin(MessageEngagement, MessageEngagement.notification_id == Notification.id)
             .where(_sent_in(since)).group_by(*columns))
    result: dict[str, dict[str, RateRow]] = {dimension: {} for dimension in _GROUP_COLUMNS}
    for values in await session.execute(query):
        keys, counts = values[:len(columns)], values[len(columns):]
        for dimension, key in zip(_GROUP_COLUMNS, keys, strict=True):
            label = _label(key)
            row = result[dimension].setdefault(label, RateRow(label))
            for name, count in zip(("sent", "bounced", "opened", "clicked", "unsubscribed",
                                    "complained"), counts, strict=True):
                setattr(row, name, getattr(row, name) + int(count))
    return {dimension: sorted(rows.values(), key=lambda r: r.key)
            for dimension, rows in result.items()}


def _label(value: Any) -> str:
    return "none" if value is None or value == "" else str(value)


def _day(session: AsyncSession, column: Any) -> Any:
    if session.bind.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.strftime("%Y-%m-%d", column)


async def provider_days(session: AsyncSession, since: datetime) -> list[ProviderDay]:
    """Latency p50/p95 and availability per provider and UTC day of the attempt."""
    day = _day(session, DeliveryAttempt.started_at)
    rows = await session.execute(
        select(DeliveryAttempt.provider, day, DeliveryAttempt.outcome,
               DeliveryAttempt.duration_ms)
        .where(DeliveryAttempt.started_at >= since)
        .order_by(DeliveryAttempt.started_at.desc()).limit(SAMPLE))
    cells: dict[tuple[str, str], list[Any]] = {}
    for provider, bucket, outcome, duration in rows:
        cell = cells.setdefault((provider, str(bucket)), [0, []])
        if outcome in ANSWERED:
            cell[0] += 1
        cell[1].append(float(duration))
    result = []
    for (provider, bucket), (answered, durations) in sorted(cells.items()):
        durations.sort()
        result.append(ProviderDay(provider, bucket, len(durations), answered,
                                  percentile(durations, 0.50), percentile(durations, 0.95)))
    return result


async def customer_response(session: AsyncSession, since: datetime, response_days: int,
                            now: datetime) -> list[dict[str, Any]]:
    """Per channel: messages sent in the window, and how many were followed within
    ``response_days`` days by a portal visit to the same return (the visit after the send) or
    by a reply to the message."""
    sent = (await session.execute(
        select(Notification.id, Notification.channel, Notification.return_id,
               Notification.sent_at)
        .where(_sent_in(since)).order_by(Notification.sent_at.desc()).limit(SAMPLE))).all()
    replies = dict((await session.execute(
        select(MessageEngagement.notification_id, MessageEngagement.first_at)
        .join(Notification, Notification.id == MessageEngagement.notification_id)
        .where(MessageEngagement.kind == "reply", _sent_in(since)))).all())
    visits: dict[int, list[datetime]] = {}
    if sent:
        returns = select(Notification.return_id).where(_sent_in(since))
        for return_id, at in await session.execute(
                select(PortalView.return_id, PortalView.viewed_at).where(
                    PortalView.return_id.in_(returns), PortalView.viewed_at >= since)):
            visits.setdefault(return_id, []).append(_aware(at))
    window = timedelta(days=response_days)
    per_channel: dict[str, list[int]] = {}
    for notification_id, channel, return_id, sent_at in sent:
        sent_at = _aware(sent_at)
        cell = per_channel.setdefault(channel, [0, 0])
        cell[0] += 1
        reply = replies.get(notification_id)
        if (reply is not None and _aware(reply) <= sent_at + window) or any(
                sent_at <= at <= sent_at + window for at in visits.get(return_id, ())):
            cell[1] += 1
    return [{"channel": channel, "sent": total, "responded": responded,
             "rate": rate(responded, total)}
            for channel, (total, responded) in sorted(per_channel.items())]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
