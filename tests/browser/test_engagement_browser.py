"""The engagement page in a real browser, every figure cross-checked against the database
with the test's own SQL (not the page's code): open, click, bounce and unsubscribe rates per
stage and template, provider latency p50/p95 and availability, customer response, the SVG
charts and a CSV download."""
# ruff: noqa: S608 - the SQL is assembled from the test's own constants

from __future__ import annotations

import csv
import io
import math
from datetime import timedelta

from sqlalchemy import select, text, update

from hub.store.engine import utcnow
from hub.store.models import DeliveryAttempt, Notification, PortalView, Return
from hub.web.dashboard.pages import percent
from returnhub_sendgrid.events import parse_events
from tests.browser.conftest import assert_screenshot
from tests.web.conftest import new_token, seed

PROVIDERS = "sent_at IS NOT NULL AND provider IS NOT NULL AND channel IN ('email', 'sms')"


async def _scalar_rows(session, sql: str, **params) -> dict[str, int]:
    return {str(k): int(v) for k, v in (await session.execute(text(sql), params)).all()}


def _pct(part: int, whole: int) -> str:
    return percent(round(100.0 * part / whole, 1) if whole else None)


async def _expected_rates(session, column: str) -> dict[str, dict[str, str]]:
    """Per value of ``column``: the rates as the page must print them, from plain SQL."""
    sent = await _scalar_rows(session, f"SELECT {column}, COUNT(*) FROM notifications "
                              f"WHERE {PROVIDERS} GROUP BY {column}")
    bounced = await _scalar_rows(session, f"SELECT {column}, COUNT(*) FROM notifications "
                                 f"WHERE {PROVIDERS} AND status = 'bounced' GROUP BY {column}")

    async def engaged(kinds: str) -> dict[str, int]:
        return await _scalar_rows(
            session, f"SELECT n.{column}, COUNT(DISTINCT n.id) FROM notifications n "
            "JOIN message_engagement e ON e.notification_id = n.id "
            f"WHERE e.kind IN ({kinds}) AND n.{PROVIDERS.replace(' AND ', ' AND n.')} "
            f"GROUP BY n.{column}")

    opened, clicked = await engaged("'open', 'click'"), await engaged("'click'")
    unsubscribed = await engaged("'unsubscribe'")
    return {key: {"sent": str(total), "open_rate": _pct(opened.get(key, 0), total),
                  "click_rate": _pct(clicked.get(key, 0), total),
                  "bounce_rate": _pct(bounced.get(key, 0), total),
                  "unsubscribe_rate": _pct(unsubscribed.get(key, 0), total)}
            for key, total in sent.items()}


async def _page_rates(page, table: str) -> dict[str, dict[str, str]]:
    found = {}
    for row in await page.locator(f"[data-testid={table}] tbody tr[data-key]").all():
        key = await row.get_attribute("data-key")
        found[key] = {col: (await row.locator(f"[data-col={col}]").text_content()).strip()
                      for col in ("sent", "open_rate", "click_rate", "bounce_rate",
                                  "unsubscribe_rate")}
    return found


async def _record(hub, events: list[dict]) -> None:
    async with hub.sessionmaker() as session, session.begin():
        await hub.receipts.record(session, "sg", "email", parse_events(events, utcnow()),
                                  utcnow())


async def test_engagement_page_figures_match_the_database(browser, served, tmp_path):
    hub, client, base = served
    for number in range(1, 6):
        await seed(client, hub, f"EG-{number}", "return.requested", "return.approved")
    async with hub.sessionmaker() as session:
        emails = (await session.execute(select(Notification).where(
            Notification.channel == "email").order_by(Notification.id))).scalars().all()
    ts = int(utcnow().timestamp())
    events = []
    for index, message in enumerate(emails):
        def event(name: str, suffix: str, message: Notification = message) -> dict:
            return {"event": name, "timestamp": ts, "sg_event_id": f"{message.id}-{suffix}",
                    "returnhub_message_id": message.id, "email": "x@example.com"}
        if index % 2 == 0:
            events += [event("open", "o1"), event("open", "o2")]
        if index % 3 == 0:
            events.append(event("click", "c"))
        if index == 4:
            events.append(event("unsubscribe", "u"))
    await _record(hub, events)
    await _record(hub, events[:3])  # a redelivered batch changes nothing
    now = utcnow()
    noon = now.replace(hour=12, minute=0, second=0, microsecond=0)
    async with hub.sessionmaker() as session, session.begin():
        await session.execute(update(Notification).where(Notification.id == emails[1].id)
                              .values(status="bounced"))
        outcomes = ["accepted"] * 9 + ["refused", "transient", "unknown", "rate_limited"]
        for number, outcome in enumerate(outcomes):
            session.add(DeliveryAttempt(
                notification_id=emails[0].id, attempt_no=number + 1, provider="sg",
                outcome=outcome, duration_ms=(number * 37) % 101 + 5,
                started_at=noon - timedelta(seconds=number)))
        returns = (await session.execute(select(Return.id).order_by(Return.id))).scalars().all()
        for return_id in returns[:2]:
            session.add(PortalView(return_id=return_id, viewed_at=now + timedelta(hours=1)))
        session.add(PortalView(return_id=returns[2], viewed_at=now + timedelta(days=6)))

    async with hub.sessionmaker() as session:
        by_stage = await _expected_rates(session, "stage")
        by_template = await _expected_rates(session, "template")
        sg = (await session.execute(text(
            "SELECT COUNT(*), SUM(CASE WHEN outcome IN ('accepted', 'rate_limited', "
            "'permanent', 'refused', 'misconfigured') THEN 1 ELSE 0 END) "
            "FROM delivery_attempts WHERE provider = 'sg'"))).one()

        async def nearest_rank(fraction: float) -> str:
            offset = math.ceil(fraction * sg[0]) - 1
            value = (await session.execute(text(
                "SELECT duration_ms FROM delivery_attempts WHERE provider = 'sg' "
                "ORDER BY duration_ms LIMIT 1 OFFSET :o"), {"o": offset})).scalar_one()
            return f"{float(value):.1f} ms"

        p50, p95 = await nearest_rank(0.5), await nearest_rank(0.95)
        within = ("v.viewed_at <= n.sent_at + INTERVAL '3 days'"
                  if session.bind.dialect.name == "postgresql"
                  else "v.viewed_at <= datetime(n.sent_at, '+3 days')")
        responded = await _scalar_rows(session, (
            "SELECT n.channel, COUNT(*) FROM notifications n WHERE "
            f"n.{PROVIDERS.replace(' AND ', ' AND n.')} AND EXISTS (SELECT 1 FROM "
            f"portal_views v WHERE v.return_id = n.return_id AND v.viewed_at >= n.sent_at "
            f"AND {within}) GROUP BY n.channel"))
        sent_email = (await session.execute(text(
            f"SELECT COUNT(*) FROM notifications WHERE {PROVIDERS} AND channel = 'email'"))
        ).scalar_one()
    # The data is what the test means it to be (so the comparisons below are not vacuous).
    assert by_stage["approved"]["open_rate"] != "0.0%" and sg[0] == 13 and sg[1] == 11
    assert responded == {"email": 4} and sent_email == 10

    token = await new_token(hub, "browser-reader", "read")
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await page.goto(f"{base}/admin/")
    await page.fill("#token", token)
    await page.click("button[type=submit]")
    await page.click("[data-testid=engagement-link]")
    await page.wait_for_selector("[data-testid=rates-stage]")

    assert await _page_rates(page, "rates-stage") == by_stage
    assert await _page_rates(page, "rates-template") == by_template
    row = page.locator("[data-testid=providers] tr[data-key^='sg ']")
    assert await row.count() == 1
    assert await row.locator("[data-col=availability]").text_content() == _pct(sg[1], sg[0])
    assert await row.locator("[data-col=p50]").text_content() == p50
    assert await row.locator("[data-col=p95]").text_content() == p95
    email = page.locator("[data-testid=response] tr[data-key=email]")
    assert await email.locator("[data-col=responded]").text_content() == "4"
    assert await email.locator("[data-col=rate]").text_content() == _pct(4, sent_email)
    # The charts are server-drawn SVG; the open-rate bar of "approved" carries its value.
    bar = page.locator("[data-testid=chart-stage] rect[data-series='open rate']"
                       "[data-label=approved]")
    assert f"{float(await bar.get_attribute('data-value')):.1f}%" == by_stage["approved"][
        "open_rate"]
    assert float(await bar.get_attribute("width")) > 0
    assert await page.locator("[data-testid=chart-availability] svg rect").count() >= 1
    shot = tmp_path / "engagement.png"
    await page.screenshot(path=str(shot), full_page=True)
    assert_screenshot(shot)

    async with page.expect_download() as waiting:
        await page.click("#by-stage a[download]")
    download = await waiting.value
    rows = list(csv.reader(io.StringIO(open(await download.path(), encoding="utf-8").read())))
    assert rows[0][0] == "stage"
    assert {r[0]: r[1] for r in rows[1:]} == {k: v["sent"] for k, v in by_stage.items()}

    # A wider response window counts the visit six days after.
    await page.click("#response nav a:text-is('7d')")
    await page.wait_for_selector("#response h2:has-text('within 7 days')")
    assert await page.locator("[data-testid=response] tr[data-key=email] "
                              "[data-col=responded]").text_content() == "6"
    await page.close()


async def test_engagement_page_fits_a_phone(phone, served, tmp_path):
    hub, client, base = served
    await seed(client, hub, "PH-1", "return.requested", "return.approved")
    token = await new_token(hub, "phone-reader", "read")
    await phone.goto(f"{base}/admin/")
    await phone.fill("#token", token)
    await phone.click("button[type=submit]")
    await phone.goto(f"{base}/admin/engagement?days=7")
    await phone.wait_for_selector("[data-testid=rates-stage] tr[data-key=approved]")
    assert await phone.locator("[data-testid=chart-stage] svg rect").count() >= 1
    # Nothing wider than the phone but the tables, which scroll inside their cards.
    assert await phone.evaluate("document.documentElement.scrollWidth") <= 390
    chart = await phone.locator("[data-testid=chart-stage] svg").bounding_box()
    assert 0 < chart["width"] <= 390
    shot = tmp_path / "engagement-phone.png"
    await phone.screenshot(path=str(shot), full_page=True)
    assert_screenshot(shot)
