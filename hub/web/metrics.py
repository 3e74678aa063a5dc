"""``GET /metrics``: Prometheus text, from a per-application registry.

Two kinds of series:

- **Counted by this process** (Prometheus sums them across instances): webhook events received
  and rejected by source and reason, receipts received, portal page views.
- **Read from the database at scrape time**, so every process reports the same, right values
  however many nodes share the database: notifications by channel, provider and status; the
  delivery latency histogram (time to notify: ``sent_at - event_received_at``); queue depth and
  the oldest pending notification; the inbox backlog; dead letters; each provider's circuit
  breaker (``provider_health``, falling back to this process's breaker).

If the database does not answer, the scrape still succeeds with ``returnhub_database_up 0``.
``/metrics`` needs no token: it holds counts and connector names only, no customer data; keep
it off the public internet as you would any metrics endpoint (see docs/dashboard.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from sqlalchemy import case, func, literal_column, select

from hub.logs import get_logger
from hub.store.engine import utcnow
from hub.store.models import InboxEvent, Notification, ProviderHealth
from hub.store.models_alerts import Alert
from hub.web.keys import HUB

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.ext.asyncio import AsyncSession

    from hub.runtime import Hub

log = get_logger("hub.metrics")

#: Upper bounds (seconds) of the delivery latency histogram's buckets.
LATENCY_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 21600, 86400)
#: Notification statuses that are waiting in the queue.
QUEUE_STATUSES = ("pending", "sending", "unknown")
#: Every breaker state (one series per state, 1 for the current one).
BREAKER_STATES = ("closed", "open", "half_open")


class HubMetrics:
    """The counters this process keeps, in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.events_received = Counter(
            "returnhub_events_received", "Webhook events stored in the inbox, by source; "
            "result is new or duplicate.", ["source", "result"], registry=self.registry)
        self.events_rejected = Counter(
            "returnhub_events_rejected", "Webhook requests refused, by connector and reason.",
            ["source", "reason"], registry=self.registry)
        self.receipts_received = Counter(
            "returnhub_receipts_received", "Provider status events received, by provider.",
            ["provider"], registry=self.registry)
        self.portal_views = Counter(
            "returnhub_portal_page_views", "Customer portal return pages served.",
            registry=self.registry)

    def received(self, source: str, new: int, duplicates: int) -> None:
        """Count events a source webhook delivered."""
        if new:
            self.events_received.labels(source, "new").inc(new)
        if duplicates:
            self.events_received.labels(source, "duplicate").inc(duplicates)

    def rejected(self, source: str, reason: str) -> None:
        """Count a refused webhook request (unknown connectors are counted as ``unknown``, so
        that a caller cannot create series at will)."""
        self.events_rejected.labels(source, reason).inc()


#: This application's :class:`HubMetrics`.
METRICS: web.AppKey[HubMetrics] = web.AppKey("metrics", HubMetrics)


_ResponseKey = getattr(web, "ResponseKey", None)
#: What a webhook response stored: (new, duplicate) events, set by ingress for counting.
COUNTS: Any = (_ResponseKey("returnhub.counts", tuple) if _ResponseKey is not None
               else "returnhub.counts")


def metrics_of(app: web.Application) -> HubMetrics | None:
    """The app's metrics, if it has them (ingress counts only then)."""
    return app.get(METRICS)


#: The messages time to notify is measured over: those an event triggered. A campaign message
#: has no triggering event (its ``event_received_at`` is when it was planned) and is paced on
#: purpose, so its wait is no delay.
TRIGGERED = Notification.campaign_id.is_(None)


def latency_seconds(dialect: str) -> Any:
    """SQL for ``sent_at - event_received_at`` in seconds, on this backend."""
    if dialect == "postgresql":
        return func.extract("epoch", Notification.sent_at - Notification.event_received_at)
    return (func.julianday(Notification.sent_at)
            - func.julianday(Notification.event_received_at)) * literal_column("86400.0")


@dataclass(slots=True)
class Snapshot:
    """Database-derived values of one scrape."""

    up: bool = True
    notifications: list[tuple[str, str, str, int]] = field(default_factory=list)
    latency_count: int = 0
    latency_sum: float = 0.0
    latency_buckets: list[int] = field(default_factory=list)
    queue: dict[str, int] = field(default_factory=dict)
    oldest_pending_seconds: float = 0.0
    inbox: dict[str, int] = field(default_factory=dict)
    dead_notifications: int = 0
    breakers: dict[str, tuple[str, int]] = field(default_factory=dict)
    #: Open alerts by (rule, severity).
    alerts_open: dict[tuple[str, str], int] = field(default_factory=dict)


async def read_snapshot(hub: Hub) -> Snapshot:
    """Read every database-derived value (a handful of aggregate queries)."""
    snap = Snapshot()
    try:
        async with hub.sessionmaker() as session:
            await _read(session, snap)
    except Exception as exc:
        log.warning("metrics_read_failed", error=type(exc).__name__)
        return Snapshot(up=False, breakers=_local_breakers(hub))
    local = _local_breakers(hub)
    snap.breakers = {**local, **{k: v for k, v in snap.breakers.items() if k in local}}
    return snap


def _local_breakers(hub: Hub) -> dict[str, tuple[str, int]]:
    return {name: (state["state"], state["consecutive_failures"])
            for name, state in hub.health.snapshot().items()}


async def _read(session: AsyncSession, snap: Snapshot) -> None:
    rows = await session.execute(select(
        Notification.channel, Notification.provider, Notification.status, func.count())
        .group_by(Notification.channel, Notification.provider, Notification.status))
    snap.notifications = [(c, p or "", s, n) for c, p, s, n in rows]
    seconds = latency_seconds(session.bind.dialect.name)
    columns = [func.count(), func.coalesce(func.sum(seconds), 0.0)]
    columns += [func.coalesce(func.sum(case((seconds <= bound, 1), else_=0)), 0)
                for bound in LATENCY_BUCKETS]
    row = (await session.execute(select(*columns).where(
        Notification.sent_at.is_not(None), TRIGGERED))).one()
    snap.latency_count, snap.latency_sum = int(row[0]), float(row[1] or 0.0)
    snap.latency_buckets = [int(v or 0) for v in row[2:]]
    queue = dict((await session.execute(select(Notification.status, func.count()).where(
        Notification.status.in_(QUEUE_STATUSES)).group_by(Notification.status))).all())
    snap.queue = {status: int(queue.get(status, 0)) for status in QUEUE_STATUSES}
    oldest = (await session.execute(select(func.min(Notification.created_at)).where(
        Notification.status.in_(QUEUE_STATUSES)))).scalar_one()
    if oldest is not None:
        if oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)
        snap.oldest_pending_seconds = max(0.0, (utcnow() - oldest).total_seconds())
    snap.inbox = {k: int(v) for k, v in (await session.execute(select(
        InboxEvent.status, func.count()).where(InboxEvent.status != "done")
        .group_by(InboxEvent.status))).all()}
    snap.dead_notifications = int((await session.execute(select(func.count()).select_from(
        Notification).where(Notification.status.in_(("dead", "failed"))))).scalar_one())
    snap.breakers = {row.provider: (row.state, row.consecutive_failures) for row in
                     (await session.execute(select(ProviderHealth))).scalars()}
    snap.alerts_open = {(rule, severity): int(n) for rule, severity, n in (await session.execute(
        select(Alert.rule, Alert.severity, func.count()).where(Alert.status == "open")
        .group_by(Alert.rule, Alert.severity))).all()}


class _ScrapeCollector:
    """This process's counters plus one scrape's database values."""

    def __init__(self, metrics: HubMetrics, snap: Snapshot) -> None:
        self.metrics = metrics
        self.snap = snap

    def collect(self) -> Iterator[Any]:
        yield from self.metrics.registry.collect()
        snap = self.snap
        up = GaugeMetricFamily("returnhub_database_up", "1 when the database answered this "
                               "scrape.")
        up.add_metric([], 1 if snap.up else 0)
        yield up
        yield from self._breakers()
        if not snap.up:
            return
        notifications = GaugeMetricFamily(
            "returnhub_notifications", "Notifications in the outbox by channel, provider and "
            "status.", labels=["channel", "provider", "status"])
        for channel, provider, status, count in snap.notifications:
            notifications.add_metric([channel, provider, status], count)
        yield notifications
        buckets = [(str(float(b)), c) for b, c in zip(LATENCY_BUCKETS, snap.latency_buckets,
                                                      strict=True)]
        buckets.append(("+Inf", snap.latency_count))
        yield HistogramMetricFamily(
            "returnhub_delivery_latency_seconds", "Time to notify: from the event reaching the "
            "hub to a provider accepting the message.", buckets=buckets,
            sum_value=snap.latency_sum)
        queue = GaugeMetricFamily("returnhub_queue_depth", "Notifications waiting, by status.",
                                  labels=["status"])
        for status, count in snap.queue.items():
            queue.add_metric([status], count)
        yield queue
        oldest = GaugeMetricFamily("returnhub_oldest_pending_notification_seconds",
                                   "Age of the oldest notification still waiting.")
        oldest.add_metric([], snap.oldest_pending_seconds)
        yield oldest
        inbox = GaugeMetricFamily("returnhub_inbox_backlog", "Inbox events not done, by status "
                                  "(pending, parked, ambiguous, failed).", labels=["status"])
        for status in ("pending", "parked", "ambiguous", "failed"):
            inbox.add_metric([status], snap.inbox.get(status, 0))
        yield inbox
        dead = GaugeMetricFamily("returnhub_dead_letters", "Dead letters waiting for a replay.",
                                 labels=["kind"])
        dead.add_metric(["inbox"], snap.inbox.get("failed", 0))
        dead.add_metric(["notification"], snap.dead_notifications)
        yield dead
        alerts = GaugeMetricFamily("returnhub_alerts_open", "Open alerts by rule and severity "
                                   "(docs/alerts.md).", labels=["rule", "severity"])
        for (rule, severity), count in sorted(snap.alerts_open.items()):
            alerts.add_metric([rule, severity], count)
        yield alerts

    def _breakers(self) -> Iterator[Any]:
        state = GaugeMetricFamily("returnhub_provider_breaker_state", "1 for each provider's "
                                  "current circuit breaker state.", labels=["provider", "state"])
        failures = GaugeMetricFamily("returnhub_provider_consecutive_failures", "Consecutive "
                                     "failures counted by each provider's breaker.",
                                     labels=["provider"])
        for provider, (current, count) in sorted(self.snap.breakers.items()):
            for name in BREAKER_STATES:
                state.add_metric([provider, name], 1 if current == name else 0)
            failures.add_metric([provider], count)
        yield state
        yield failures


async def metrics_view(request: web.Request) -> web.Response:
    """The Prometheus exposition."""
    hub: Hub = request.app[HUB]
    snap = await read_snapshot(hub)
    body = generate_latest(_ScrapeCollector(request.app[METRICS], snap))  # type: ignore[arg-type]
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
