"""The campaigns page in a real browser, on SQLite and PostgreSQL: sign in, see a campaign's
counts (cross-checked with the outbox), launch, pause and resume it with the page's buttons,
and watch the counts move on the page's own refresh."""

from __future__ import annotations

from hub.campaigns import service
from hub.testing.campaign_seed import seed_customers
from tests.conftest import wait_for
from tests.web.conftest import audit_actions, new_token


async def cell(page, campaign_id: int, name: str) -> str:  # noqa: ANN001
    return (await page.text_content(f"tr[data-campaign='{campaign_id}'] td.{name}")).strip()


async def press(page, campaign_id: int, action: str) -> None:  # noqa: ANN001
    """Click a campaign's button and wait for the page it redirects to."""
    async with page.expect_navigation():
        await page.click(f"tr[data-campaign='{campaign_id}'] button.{action}")
    assert await page.text_content("p.flash") == "Done."


async def test_campaigns_page_buttons_and_live_counts(phone, served):
    hub, _client, base = served
    await seed_customers(hub.sessionmaker, hub.codec, 12, consent_every=2)
    await service.create_segment(hub, "all", 'state in ["refunded", "exchange_shipped"]')
    campaign = await service.create_campaign(
        hub, name="swap", segment="all", template="campaigns/exchange_offer",
        channels=["email"], rate_per_second=1000, start_at=None)
    token = await new_token(hub, "browser-ops", "operate")

    await phone.goto(f"{base}/admin/")
    await phone.fill("#token", token)
    await phone.click("button[type=submit]")
    await phone.wait_for_selector("[data-testid=success-rate]")
    await phone.click("a[href='/admin/campaigns']")
    await phone.wait_for_selector("#campaigns")
    assert await cell(phone, campaign.id, "status") == "draft"

    await press(phone, campaign.id, "launch")
    assert (await cell(phone, campaign.id, "status")).startswith("running")
    await hub.campaigns.plan_all(campaign.id)
    await press(phone, campaign.id, "pause")
    campaign, _ = await service.get_campaign(hub, campaign.id)
    counts = await service.progress(hub, campaign)
    assert (counts.planned, counts.paused) == (6, 6)  # customers 2, 4, ..., 12 consent
    assert await cell(phone, campaign.id, "paused") == "6"
    assert await cell(phone, campaign.id, "planned") == "6"
    await press(phone, campaign.id, "resume")
    await hub.dispatcher.drain()
    await hub.campaigns.plan_once()

    async def shows_done() -> bool:  # the page refreshes itself every few seconds
        return await cell(phone, campaign.id, "status") == "done"
    await wait_for(shows_done, timeout=15, interval=0.2)
    assert await cell(phone, campaign.id, "sent") == "6"
    assert await phone.locator(f"tr[data-campaign='{campaign.id}'] button").count() == 0
    assert [a for _, a, _ in await audit_actions(hub)] == [
        "campaign.launch", "campaign.pause", "campaign.resume"]
