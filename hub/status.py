"""``returnhub status``: queues, dead letters and provider health, read from the database
(so it works against any running deployment).

A breaker row is written by the node whose breaker changed state, and only then; nodes keep no
heartbeat. An open or half-open row not rewritten for longer than the provider's cool-down plus
:data:`STALE_MARGIN_SECONDS` no longer describes any breaker: its node is gone, or its breaker
has cooled down and had no send since (the next send probes it). Such a row is shown as
*stale*, not as the provider's state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import ValidationError
from sqlalchemy import func, select

from hub.config import PROVIDER_POLICY_KEYS, ProviderPolicy
from hub.delivery.breaker import CLOSED
from hub.store.engine import make_engine, make_sessionmaker, utcnow
from hub.store.models import InboxEvent, Notification, ProviderHealth

if TYPE_CHECKING:
    from datetime import datetime

    from hub.config import Settings

#: How long past its cool-down an open or half-open row is still believed.
STALE_MARGIN_SECONDS = 60.0


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
                                   "node": p.node,
                                   "stale": is_stale(p, cooldown_of(settings, p.provider),
                                                     utcnow())}
                      for p in providers},
    }


def cooldown_of(settings: Settings, provider: str) -> float:
    """The breaker cool-down configured for ``provider`` (the default if it is gone)."""
    section = settings.sinks.get(provider)
    values = {k: v for k, v in section.items() if k in PROVIDER_POLICY_KEYS} \
        if isinstance(section, dict) else {}
    try:
        return ProviderPolicy.model_validate(values).breaker_cooldown_seconds
    except ValidationError:
        return ProviderPolicy().breaker_cooldown_seconds


def is_stale(row: ProviderHealth, cooldown: float, now: datetime) -> bool:
    """Whether an open or half-open row is older than its cool-down plus the margin (see the
    module docstring); a closed row is never stale (closed is what a fresh breaker is)."""
    age = (now - row.updated_at).total_seconds()
    return row.state != CLOSED and age > cooldown + STALE_MARGIN_SECONDS


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
        if state["stale"]:
            lines.append(f"provider {name}: stale (node gone or no send since) — was "
                         f"{state['state']}, written "
                         f"{state['updated_at']:%Y-%m-%d %H:%M:%S} by {state['node']}")
            continue
        lines.append(f"provider {name}: {state['state']} (failures {state['failures']}, "
                     f"updated {state['updated_at']:%Y-%m-%d %H:%M:%S} by {state['node']})"
                     + (f" — {state['last_error']}" if state["last_error"] else ""))
    return lines
