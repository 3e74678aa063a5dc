"""``returnhub status``: queues, dead letters and provider health, read from the database
(so it works against any running deployment)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func, select

from hub.store.engine import make_engine, make_sessionmaker, utcnow
from hub.store.models import InboxEvent, Notification, ProviderHealth

if TYPE_CHECKING:
    from hub.config import Settings


async def status_report(settings: Settings) -> dict:
    """Counts by status, the oldest pending notification and each provider's breaker."""
    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            inbox = dict((await session.execute(select(
                InboxEvent.status, func.count()).group_by(InboxEvent.status))).all())
            outbox = dict((await session.execute(select(
                Notification.status, func.count()).group_by(Notification.status))).all())
            oldest = (await session.execute(select(func.min(Notification.created_at)).where(
                Notification.status.in_(("pending", "sending", "unknown"))))).scalar_one()
            providers = list((await session.execute(
                select(ProviderHealth).order_by(ProviderHealth.provider))).scalars())
    finally:
        await engine.dispose()
    return {
        "inbox": inbox, "notifications": outbox,
        "oldest_pending_seconds": (utcnow() - oldest).total_seconds() if oldest else None,
        "providers": {p.provider: {"state": p.state, "failures": p.consecutive_failures,
                                   "last_error": p.last_error, "updated_at": p.updated_at,
                                   "node": p.node} for p in providers},
    }


def format_report(report: dict) -> list[str]:
    """The report as text lines."""
    lines = ["inbox:         " + (", ".join(f"{k} {v}" for k, v in sorted(report["inbox"].items()))
                                  or "empty"),
             "notifications: " + (", ".join(f"{k} {v}" for k, v in
                                            sorted(report["notifications"].items())) or "none")]
    oldest = report["oldest_pending_seconds"]
    lines.append(f"oldest pending: {oldest:.0f}s" if oldest is not None else "oldest pending: -")
    if not report["providers"]:
        lines.append("providers:     no breaker has changed state yet (all closed)")
    for name, state in report["providers"].items():
        lines.append(f"provider {name}: {state['state']} (failures {state['failures']}, "
                     f"updated {state['updated_at']:%Y-%m-%d %H:%M:%S} by {state['node']})"
                     + (f" — {state['last_error']}" if state["last_error"] else ""))
    return lines
