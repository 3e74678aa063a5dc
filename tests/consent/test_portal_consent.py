"""The portal return page's offers form: the customer grants and withdraws marketing consent
per channel (source ``portal``), the page shows the choice, bad input is a clear JSON error."""

from __future__ import annotations

from sqlalchemy import select

from hub.store.models import Customer
from hub.store.models_consent import MarketingConsent
from tests.web.conftest import seed
from tests.web.test_portal import link


async def _history(hub) -> list[tuple[str, bool, str]]:
    async with hub.sessionmaker() as session:
        rows = (await session.execute(select(MarketingConsent).order_by(
            MarketingConsent.id))).scalars()
        return [(r.channel, r.granted, r.source) for r in rows]


async def test_the_portal_form_grants_and_withdraws_offers(portal_hub, portal_client):
    await seed(portal_client, portal_hub, "PC-1")
    page = link(portal_hub, "PC-1")
    html = await (await portal_client.get(page)).text()
    assert 'id="offers-form"' in html and f'action="{page}/consent"' in html
    assert 'name="offers_email" value="yes">' in html  # not checked: no consent yet

    response = await portal_client.post(f"{page}/consent",
                                        data={"submitted": "1", "offers_email": "yes"},
                                        allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == page
    html = await (await portal_client.get(page)).text()
    assert 'name="offers_email" value="yes" checked>' in html
    assert 'name="offers_sms" value="yes">' in html
    assert await _history(portal_hub) == [("email", True, "portal")]

    response = await portal_client.post(f"{page}/consent", data={"submitted": "1"},
                                        allow_redirects=False)
    assert response.status == 303
    assert await _history(portal_hub) == [("email", True, "portal"),
                                          ("email", False, "portal")]
    async with portal_hub.sessionmaker() as session:
        assert (await session.execute(select(Customer.id))).scalar_one()


async def test_the_portal_form_refuses_bad_input(portal_hub, portal_client):
    await seed(portal_client, portal_hub, "PC-2")
    page = link(portal_hub, "PC-2")
    response = await portal_client.post(f"{page}/consent", data={"offers_fax": "yes"})
    assert response.status == 400
    assert (await response.json())["error"]["field"] == "offers_fax"
    response = await portal_client.post(f"{page[:-4]}AAAA/consent",
                                        data={"offers_email": "yes"})
    assert response.status == 404
    assert (await response.json())["error"]["field"] == "token"
    assert await _history(portal_hub) == []
