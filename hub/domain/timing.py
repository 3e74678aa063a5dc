"""When a planned message may go out: coalescing window and quiet hours."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from hub.config import QuietHours


def customer_zone(name: str | None, default: str) -> ZoneInfo:
    """The customer's time zone: ``name`` (the IANA name their platform gave), else the
    configured default, else UTC, whichever is the first that exists."""
    for candidate in (name, default, "UTC"):
        if not candidate:
            continue
        try:
            return ZoneInfo(candidate)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return ZoneInfo("UTC")


def after_quiet_hours(when: datetime, quiet: QuietHours | None, zone_name: str | None,
                      default_zone: str) -> datetime:
    """``when`` itself, or the end of the quiet hours it falls into (customer's local time)."""
    if quiet is None:
        return when
    zone = customer_zone(zone_name, default_zone)
    local = when.astimezone(zone)
    start = time.fromisoformat(quiet.start)
    end = time.fromisoformat(quiet.end)
    now_t = local.time()
    if start == end:
        return when
    inside = (start <= now_t or now_t < end) if start > end else (start <= now_t < end)
    if not inside:
        return when
    # In the hour repeated when clocks go back, the end is the one after ``when`` (fold), and
    # instants are compared in UTC (same-zone comparisons ignore fold): the second 01:10 was
    # released at the first 01:30, already past, and sent inside quiet hours.
    release = datetime.combine(local.date(), end, tzinfo=zone).replace(fold=local.fold)
    if release.astimezone(UTC) <= when.astimezone(UTC):
        release = datetime.combine(local.date() + timedelta(days=1), end, tzinfo=zone)
    return release.astimezone(when.tzinfo)
