"""One-click unsubscribe (RFC 8058), tested the way a mail client does it: read the sent
message's List-Unsubscribe headers from the file sink's .eml, POST exactly
``List-Unsubscribe=One-Click`` to the URL over real HTTP without cookies or credentials, and
check that consent is gone and the next promotional message to that customer is skipped."""

from __future__ import annotations

import email
import re
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from hub.runtime import Hub
from hub.store.models import Customer
from hub.store.models_consent import MarketingConsent
from hub.web.app import create_app
from tests.conftest import make_settings
from tests.consent.helpers import plan_promotion, status_of
from tests.web.conftest import bearer, new_token, seed

POSTAL = "Our Store Ltd, 1 Harbour Road, Bristol BS1 4AA"


@pytest.fixture
async def promo_hub(tmp_path: Path, db_url: str) -> AsyncIterator[Hub]:
    """A hub whose brand has a postal address; workers driven by ``drain``."""
    settings = make_settings(tmp_path, db_url, notifications={
        "stages": {"approved": {"channels": ["email", "sms"]}},
        "brand": {"store_name": "Our Store", "postal_address": POSTAL}})
    instance = Hub.build(settings)
    await instance.start(workers=False)
    instance.build_workers()
    await instance.dispatcher.start()
    try:
        yield instance
    finally:
        await instance.stop()


@pytest.fixture
async def promo_client(promo_hub: Hub) -> AsyncIterator[TestClient]:
    """A client of the hub's application over real HTTP on loopback."""
    async with TestClient(TestServer(create_app(promo_hub))) as client:
        yield client


async def _customer_id(hub: Hub) -> int:
    async with hub.sessionmaker() as session:
        return (await session.execute(select(Customer.id))).scalar_one()


async def _grant(client: TestClient, hub: Hub, customer_id: int, **channels: bool) -> dict:
    token = await new_token(hub)
    response = await client.put(f"/api/customers/{customer_id}/consent",
                                json={"channels": channels}, headers=bearer(token))
    assert response.status == 200, await response.text()
    return await response.json()


def _eml(hub: Hub, notification_id: str) -> email.message.Message:
    path = Path(hub.sinks["outbox"].directory) / f"{notification_id}.eml"
    return email.message_from_bytes(path.read_bytes())


def _one_click_url(message: email.message.Message) -> str:
    """The https URI of List-Unsubscribe, as RFC 8058 section 3.1 has a client pick it."""
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    uris = re.findall(r"<([^>]+)>", message["List-Unsubscribe"])
    return next(uri for uri in uris if uri.startswith(("https:", "http:")))


async def test_one_click_round_trip_as_a_mail_client(promo_hub, promo_client):
    await seed(promo_client, promo_hub, "R-1")
    customer_id = await _customer_id(promo_hub)
    await _grant(promo_client, promo_hub, customer_id, email=True)
    first = await plan_promotion(promo_hub, "R-1")
    await promo_hub.drain()
    assert (await status_of(promo_hub, first))[0] == "sent"

    message = _eml(promo_hub, first)
    url = _one_click_url(message)
    bodies = [part.get_payload(decode=True).decode() for part in message.walk()
              if not part.is_multipart()]
    assert all(POSTAL in body for body in bodies)  # text and html footers
    assert all(url in body for body in bodies)
    # The link names no address: only a signed customer id and channel.
    assert message["To"] not in url

    # The hub's public URL is not this test server's: keep the path, send it here.
    target = promo_client.make_url(urlsplit(url).path)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as mail_client:
        async with mail_client.post(
                target, data=b"List-Unsubscribe=One-Click",
                headers={"Content-Type": "application/x-www-form-urlencoded"}) as response:
            assert response.status == 200
        async with mail_client.post(  # a client that retries: still 200, nothing new
                target, data=b"List-Unsubscribe=One-Click",
                headers={"Content-Type": "application/x-www-form-urlencoded"}) as response:
            assert response.status == 200

    token = await new_token(promo_hub, "reader", "read")
    response = await promo_client.get(f"/api/customers/{customer_id}/consent",
                                      headers=bearer(token))
    state = await response.json()
    assert state["channels"]["email"] is False
    assert [(c["granted"], c["source"]) for c in state["history"]] == [
        (True, "api"), (False, "unsubscribe")]

    second = await plan_promotion(promo_hub, "R-1")
    await promo_hub.drain()
    status, error = await status_of(promo_hub, second)
    assert status == "skipped" and "consent" in error
    assert not (Path(promo_hub.sinks["outbox"].directory) / f"{second}.eml").exists()


async def test_get_shows_a_button_and_unsubscribes_no_one(promo_hub, promo_client):
    await seed(promo_client, promo_hub, "R-2")
    customer_id = await _customer_id(promo_hub)
    await _grant(promo_client, promo_hub, customer_id, email=True)
    sent = await plan_promotion(promo_hub, "R-2")
    await promo_hub.drain()
    path = urlsplit(_one_click_url(_eml(promo_hub, sent))).path

    response = await promo_client.get(path)  # a link scanner, or a person clicking
    assert response.status == 200
    page = await response.text()
    assert '<form method="post"' in page and 'value="One-Click"' in page
    async with promo_hub.sessionmaker() as session:
        rows = (await session.execute(select(func.count()).select_from(
            MarketingConsent))).scalar_one()
    assert rows == 1  # only the grant

    again = await plan_promotion(promo_hub, "R-2")
    await promo_hub.drain()
    assert (await status_of(promo_hub, again))[0] == "sent"


async def test_forged_or_altered_token_is_refused(promo_hub, promo_client):
    await seed(promo_client, promo_hub, "R-3")
    customer_id = await _customer_id(promo_hub)
    await _grant(promo_client, promo_hub, customer_id, email=True)
    sent = await plan_promotion(promo_hub, "R-3")
    await promo_hub.drain()
    path = urlsplit(_one_click_url(_eml(promo_hub, sent))).path
    forged = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    for method in ("GET", "POST"):
        response = await promo_client.request(method, forged,
                                              data=b"List-Unsubscribe=One-Click")
        assert response.status == 404
        assert (await response.json())["error"]["field"] == "token"
    token = await new_token(promo_hub, "reader", "read")
    state = await (await promo_client.get(f"/api/customers/{customer_id}/consent",
                                          headers=bearer(token))).json()
    assert state["channels"]["email"] is True
