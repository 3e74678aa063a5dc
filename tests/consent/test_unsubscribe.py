"""One-click unsubscribe (RFC 8058), tested the way a mail client does it: read the sent
message's List-Unsubscribe headers from the file sink's .eml, POST exactly
``List-Unsubscribe=One-Click`` to the URL over real HTTP without cookies or credentials, and
check that consent is gone and the next promotional message to that customer is skipped."""

from __future__ import annotations

import email
import re
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from hub.config import Settings
from hub.runtime import Hub
from hub.store.models import Customer
from hub.store.models_consent import MarketingConsent
from tests.conftest import make_settings
from tests.consent.helpers import plan_promotion, status_of
from tests.web.conftest import bearer, new_token, seed

POSTAL = "Our Store Ltd, 1 Harbour Road, Bristol BS1 4AA"


@pytest.fixture
def hub_settings(tmp_path: Path, db_url: str) -> Settings:
    """The shared ``hub`` and ``client``, with a brand that has a postal address."""
    return make_settings(tmp_path, db_url, notifications={
        "stages": {"approved": {"channels": ["email", "sms"]}},
        "brand": {"store_name": "Our Store", "postal_address": POSTAL}})


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


async def test_one_click_round_trip_as_a_mail_client(hub, client):
    await seed(client, hub, "R-1")
    customer_id = await _customer_id(hub)
    await _grant(client, hub, customer_id, email=True)
    first = await plan_promotion(hub, "R-1")
    await hub.drain()
    assert (await status_of(hub, first))[0] == "sent"

    message = _eml(hub, first)
    url = _one_click_url(message)
    bodies = [part.get_payload(decode=True).decode() for part in message.walk()
              if not part.is_multipart()]
    assert all(POSTAL in body for body in bodies)  # text and html footers
    assert all(url in body for body in bodies)
    # The link names no address: only a signed customer id and channel.
    assert message["To"] not in url

    # The hub's public URL is not this test server's: keep the path, send it here.
    target = client.make_url(urlsplit(url).path)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as mail_client:
        async with mail_client.post(
                target, data=b"List-Unsubscribe=One-Click",
                headers={"Content-Type": "application/x-www-form-urlencoded"}) as response:
            assert response.status == 200
        async with mail_client.post(  # a client that retries: still 200, nothing new
                target, data=b"List-Unsubscribe=One-Click",
                headers={"Content-Type": "application/x-www-form-urlencoded"}) as response:
            assert response.status == 200

    token = await new_token(hub, "reader", "read")
    response = await client.get(f"/api/customers/{customer_id}/consent",
                                      headers=bearer(token))
    state = await response.json()
    assert state["channels"]["email"] is False
    assert [(c["granted"], c["source"]) for c in state["history"]] == [
        (True, "api"), (False, "unsubscribe")]

    second = await plan_promotion(hub, "R-1")
    await hub.drain()
    status, error = await status_of(hub, second)
    assert status == "skipped" and "consent" in error
    assert not (Path(hub.sinks["outbox"].directory) / f"{second}.eml").exists()


async def test_get_shows_a_button_and_unsubscribes_no_one(hub, client):
    await seed(client, hub, "R-2")
    customer_id = await _customer_id(hub)
    await _grant(client, hub, customer_id, email=True)
    sent = await plan_promotion(hub, "R-2")
    await hub.drain()
    path = urlsplit(_one_click_url(_eml(hub, sent))).path

    response = await client.get(path)  # a link scanner, or a person clicking
    assert response.status == 200
    page = await response.text()
    assert '<form method="post"' in page and 'value="One-Click"' in page
    async with hub.sessionmaker() as session:
        rows = (await session.execute(select(func.count()).select_from(
            MarketingConsent))).scalar_one()
    assert rows == 1  # only the grant

    again = await plan_promotion(hub, "R-2")
    await hub.drain()
    assert (await status_of(hub, again))[0] == "sent"


async def test_forged_or_altered_token_is_refused(hub, client):
    await seed(client, hub, "R-3")
    customer_id = await _customer_id(hub)
    await _grant(client, hub, customer_id, email=True)
    sent = await plan_promotion(hub, "R-3")
    await hub.drain()
    path = urlsplit(_one_click_url(_eml(hub, sent))).path
    forged = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    for method in ("GET", "POST"):
        response = await client.request(method, forged,
                                              data=b"List-Unsubscribe=One-Click")
        assert response.status == 404
        assert (await response.json())["error"]["field"] == "token"
    token = await new_token(hub, "reader", "read")
    state = await (await client.get(f"/api/customers/{customer_id}/consent",
                                          headers=bearer(token))).json()
    assert state["channels"]["email"] is True
