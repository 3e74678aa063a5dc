"""The dashboard's engagement page (``/admin/engagement``) and its CSV downloads
(``/admin/engagement/{table}.csv``); docs/engagement.md defines every figure."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from hub.web.auth import current_token
from hub.web.dashboard.csv_export import csv_response
from hub.web.dashboard.engagement_stats import DIMENSIONS, Engagement, compute_engagement
from hub.web.dashboard.pages import render_page
from hub.web.dashboard.svg import bar_chart
from hub.web.errors import error_response
from hub.web.keys import HUB

if TYPE_CHECKING:
    from hub.runtime import Hub

#: Windows offered, in days (as the main dashboard).
WINDOWS = (1, 7, 14, 30, 90)
#: Customer response windows offered, in days.
RESPONSE_WINDOWS = (1, 3, 7, 14)
_RATE_HEADER = ["sent", "opened", "open_rate_pct", "clicked", "click_rate_pct", "bounced",
                "bounce_rate_pct", "unsubscribed", "unsubscribe_rate_pct", "complained",
                "complaint_rate_pct"]


def tables(figures: Engagement) -> dict[str, tuple[list[str], list[list[Any]]]]:
    """Every table of the page as (header, rows): what the page shows and the CSV holds."""
    result: dict[str, tuple[list[str], list[list[Any]]]] = {}
    for dimension in DIMENSIONS:
        rows = []
        for row in figures.rates[dimension]:
            rates = row.rates()
            rows.append([row.key, row.sent, row.opened, rates["opened"], row.clicked,
                         rates["clicked"], row.bounced, rates["bounced"], row.unsubscribed,
                         rates["unsubscribed"], row.complained, rates["complained"]])
        result[f"rates-{dimension}"] = ([dimension, *_RATE_HEADER], rows)
    result["providers"] = (
        ["provider", "day", "calls", "answered", "availability_pct", "latency_p50_ms",
         "latency_p95_ms"],
        [[d.provider, d.day, d.calls, d.answered, d.availability, d.p50_ms, d.p95_ms]
         for d in figures.providers])
    result["response"] = (
        ["channel", "sent", f"responded_within_{figures.response_days}d", "response_rate_pct"],
        [[r["channel"], r["sent"], r["responded"], r["rate"]] for r in figures.response])
    return result


def charts(figures: Engagement) -> dict[str, Any]:
    """The page's inline SVG charts."""
    drawn = {}
    for dimension in DIMENSIONS:
        rows = figures.rates[dimension]
        drawn[dimension] = bar_chart(
            f"Open and click rates per {dimension}", [r.key for r in rows],
            {"open rate": [r.rates()["opened"] for r in rows],
             "click rate": [r.rates()["clicked"] for r in rows],
             "bounce rate": [r.rates()["bounced"] for r in rows]}, maximum=100.0)
    labels = [f"{d.provider} · {d.day}" for d in figures.providers]
    drawn["latency"] = bar_chart(
        "Provider latency per day (ms)", labels,
        {"p50": [d.p50_ms for d in figures.providers],
         "p95": [d.p95_ms for d in figures.providers]}, unit=" ms")
    drawn["availability"] = bar_chart(
        "Provider availability per day", labels,
        {"availability": [d.availability for d in figures.providers]}, maximum=100.0)
    drawn["response"] = bar_chart(
        f"Customer response within {figures.response_days} days",
        [r["channel"] for r in figures.response],
        {"response rate": [r["rate"] for r in figures.response]}, maximum=100.0)
    return drawn


def _choice(request: web.Request, name: str, allowed: tuple[int, ...], default: int
            ) -> int | web.Response:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value not in allowed:
        return error_response(400, "invalid_query",
                              f"{name} must be one of {', '.join(map(str, allowed))}",
                              field=name)
    return value


async def _figures(request: web.Request) -> Engagement | web.Response:
    days = _choice(request, "days", WINDOWS, 14)
    if not isinstance(days, int):
        return days
    response_days = _choice(request, "response_days", RESPONSE_WINDOWS, 3)
    if not isinstance(response_days, int):
        return response_days
    hub: Hub = request.app[HUB]
    async with hub.sessionmaker() as session:
        return await compute_engagement(session, days, response_days)


async def engagement_page(request: web.Request) -> web.Response:
    """The engagement and provider health page."""
    figures = await _figures(request)
    if isinstance(figures, web.Response):
        return figures
    hub: Hub = request.app[HUB]
    return render_page(
        "engagement.html", token=current_token(request), figures=figures,
        tables=tables(figures), charts=charts(figures), dimensions=DIMENSIONS,
        windows=WINDOWS, response_windows=RESPONSE_WINDOWS,
        store_name=hub.settings.notifications.brand.store_name)


async def engagement_csv(request: web.Request) -> web.Response:
    """One of the page's tables as ``text/csv``."""
    name = request.match_info["table"]
    figures = await _figures(request)
    if isinstance(figures, web.Response):
        return figures
    found = tables(figures).get(name)
    if found is None:
        return error_response(404, "not_found", "no such table: use one of "
                              + ", ".join(tables(figures)), field="table")
    header, rows = found
    return csv_response(f"engagement-{name}-{figures.days}d.csv", header, rows)
