"""The dashboard in a real browser: sign in, numbers, charts, replay, return lookup."""

from __future__ import annotations

from sqlalchemy import select, update

from hub.store.models import Notification
from hub.web.dashboard.pages import duration, percent
from hub.web.dashboard.stats import compute_stats
from tests.browser.conftest import assert_screenshot
from tests.web.conftest import new_token, seed


async def test_dashboard_shows_numbers_replays_and_finds_a_return(phone, served, tmp_path):
    hub, client, base = served
    await seed(client, hub, "BR-1", "return.requested", "return.approved", "return.received",
               "return.refunded")
    await seed(client, hub, "BR-2", "return.approved")
    async with hub.sessionmaker() as session, session.begin():
        dead = (await session.execute(select(Notification).where(
            Notification.channel == "email").order_by(Notification.created_at.desc()).limit(1))
        ).scalar_one()
        await session.execute(update(Notification).where(Notification.id == dead.id).values(
            status="dead", last_error="provider down (test)"))
    async with hub.sessionmaker() as session:
        stats = await compute_stats(session, 14)
    token = await new_token(hub, "browser-ops", "operate")

    await phone.goto(f"{base}/admin/")
    await phone.fill("#token", token)
    await phone.click("button[type=submit]")
    await phone.wait_for_selector("[data-testid=success-rate]")
    assert await phone.text_content("[data-testid=success-rate]") == percent(stats.success_rate)
    assert percent(stats.success_rate) == "90.0%"
    assert await phone.text_content("[data-testid=notify-p50]") == duration(stats.notify_p50)
    assert await phone.text_content("[data-testid=completion-p50]") == "3.0 min"
    assert await phone.text_content("[data-testid=active-returns]") == "2"
    # The charts are drawn by the page's own script (nothing fetched from elsewhere).
    assert await phone.locator("#chart-failure svg path").count() >= 1
    assert await phone.locator("#chart-bounce svg").count() == 1
    cookies = await phone.context.cookies()
    session = next(c for c in cookies if c["name"] == "rh_session")
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    shot = tmp_path / "dashboard-phone.png"
    await phone.screenshot(path=str(shot), full_page=True)
    assert_screenshot(shot)
    charts = tmp_path / "dashboard-charts.png"
    await phone.locator(".charts").screenshot(path=str(charts))
    assert_screenshot(charts)
    # Nothing wider than the phone but the tables, which scroll inside their cards.
    assert await phone.evaluate("document.documentElement.scrollWidth") <= 390

    row = phone.locator(f"[data-testid=dead-notifications] tr[data-id='{dead.id}']")
    await row.locator("button.replay").click()
    await phone.wait_for_selector("[data-testid=flash]")
    assert "Replayed" in await phone.text_content("[data-testid=flash]")
    assert await phone.locator(f"tr[data-id='{dead.id}']").count() == 0
    async with hub.sessionmaker() as session:
        assert (await session.get(Notification, dead.id)).status == "pending"
    await hub.drain()
    async with hub.sessionmaker() as session:
        assert (await session.get(Notification, dead.id)).status == "sent"

    await phone.fill("input[name=q]", "BR-1")
    await phone.press("input[name=q]", "Enter")
    await phone.wait_for_selector("[data-testid=timeline]")
    timeline = await phone.text_content("[data-testid=timeline]")
    assert "Return BR-1" in timeline and "return.refunded" in timeline
    assert "received → refunded" in timeline
