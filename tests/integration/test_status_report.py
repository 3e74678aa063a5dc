"""``returnhub status`` and breaker rows left by nodes that are gone: an open or half-open row
older than its provider's cool-down plus a margin is shown as stale, not as the state."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from hub.runtime import Hub
from hub.status import STALE_MARGIN_SECONDS, format_report, status_report
from hub.store.engine import utcnow
from hub.store.models import ProviderHealth
from tests.conftest import make_settings

COOLDOWN = 30.0  # ProviderPolicy's default
SLOW_COOLDOWN = 3600.0


async def test_breaker_rows_older_than_their_cooldown_are_shown_stale(tmp_path: Path, db_url):
    sinks = {name: {"type": "file", "directory": str(tmp_path / name)}
             for name in ("fresh", "gone", "closed_old", "slow")}
    sinks["slow"]["breaker_cooldown_seconds"] = SLOW_COOLDOWN
    settings = make_settings(tmp_path, db_url, sinks=sinks)
    hub = Hub.build(settings)
    await hub.start(workers=False)
    try:
        now = utcnow()
        just_past = timedelta(seconds=COOLDOWN + STALE_MARGIN_SECONDS + 5)
        async with hub.sessionmaker() as session, session.begin():
            for provider, state, age in (
                    ("fresh", "open", timedelta(seconds=COOLDOWN)),
                    ("gone", "open", just_past),
                    ("retired", "half_open", timedelta(days=2)),  # no longer configured
                    ("closed_old", "closed", timedelta(days=2)),
                    ("slow", "open", just_past)):  # within its own longer cool-down
                session.add(ProviderHealth(provider=provider, state=state,
                                           consecutive_failures=5 if state != "closed" else 0,
                                           last_error=None, updated_at=now - age,
                                           node=f"node-{provider}"))
        report = await status_report(settings)
    finally:
        await hub.stop()
    stale = {name for name, row in report["providers"].items() if row["stale"]}
    assert stale == {"gone", "retired"}
    lines = {line.split(":")[0]: line for line in format_report(report)
             if line.startswith("provider ")}
    assert lines["provider fresh"].startswith("provider fresh: open (failures 5")
    assert lines["provider slow"].startswith("provider slow: open (failures 5")
    assert lines["provider closed_old"].startswith("provider closed_old: closed")
    assert lines["provider gone"].startswith(
        "provider gone: stale (node gone or no send since) — was open, written ")
    assert lines["provider gone"].endswith("by node-gone")
    assert lines["provider retired"].startswith("provider retired: stale")
