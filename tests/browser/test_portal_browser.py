"""The customer portal in a real browser at a phone size: a return, then a live new stage."""

from __future__ import annotations

from datetime import timedelta

from hub.portal_links import make_token
from hub.store.engine import utcnow
from hub.testing.factories import event_payload
from tests.browser.conftest import assert_screenshot
from tests.web.conftest import post_event, seed


async def test_portal_shows_the_return_and_a_new_stage_live(phone, served, tmp_path):
    hub, client, base = served
    customer = {"id": "C-77", "email": "mia.berg@example.com", "name": "Mia Berg"}
    await seed(client, hub, "BP-1", "return.approved", "return.label_created", customer=customer,
               tracking={"number": "1ZBP1", "carrier": "UPS",
                         "url": "https://track.example/1ZBP1"})
    token = make_token(hub.portal_key, "shop", "BP-1", utcnow() + timedelta(days=30))

    await phone.goto(f"{base}/portal/r/{token}")
    assert await phone.text_content("h1") == "Return BP-1"
    assert "Hi Mia," in await phone.text_content(".greeting")
    assert await phone.text_content("#state-title") == "Label ready"
    assert await phone.get_attribute("#tracking-link", "href") == "https://track.example/1ZBP1"
    body = await phone.text_content("body")
    assert "Berg" not in body and "mia.berg@example.com" not in body
    assert await phone.locator("#notices li").count() == 2  # approved, label ready
    # The page fits a phone: nothing wider than the screen.
    assert await phone.evaluate("document.documentElement.scrollWidth") <= 390
    await phone.evaluate("window.__sameDocument = true")

    await post_event(client, event_payload("return.in_transit", "BP-1", minutes=200))
    await hub.drain()
    await phone.wait_for_selector("#stages li[data-stage=in_transit]", timeout=10_000)
    assert await phone.text_content("#state-title") == "On its way"
    assert await phone.evaluate("window.__sameDocument === true")  # no reload happened
    await phone.wait_for_timeout(1600)  # let the highlight of the new stage fade
    shot = tmp_path / "portal-phone.png"
    await phone.screenshot(path=str(shot), full_page=True)
    assert_screenshot(shot)

    await phone.goto(f"{base}/portal/r/{token[:-3]}xyz")
    assert "find that return" in await phone.text_content("h1")
    assert "BP-1" not in await phone.text_content("body")
