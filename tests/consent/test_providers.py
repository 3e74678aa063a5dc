"""Consent and categories through the real providers' fakes over TCP, with workers running:
promotional email routed to Mandrill (transactional stays on SendGrid) carrying the RFC 8058
headers in the provider's payload; one click on that URL as a mail client sends it; STOP and
START from Twilio moving SMS marketing consent."""

from __future__ import annotations

import json
import re
from pathlib import Path

import aiohttp
from sqlalchemy import select

from hub.store.models import Customer
from hub.testing.factories import event_payload
from tests.conftest import signed_headers, wait_for
from tests.consent.helpers import plan_promotion, status_of
from tests.delivery.conftest import (  # noqa: F401 (the providers fixture)
    free_port,
    message_id_of,
    provider_settings,
    providers,
    start_hub,
    stop_hub,
)
from tests.web.conftest import new_token


async def _event(session: aiohttp.ClientSession, url: str, reference: str) -> dict:
    payload = event_payload("return.approved", reference)
    body = json.dumps(payload).encode()
    async with session.post(f"{url}/webhooks/shop", data=body,
                            headers=signed_headers(body)) as response:
        assert response.status == 202
    return payload


async def _consent(session: aiohttp.ClientSession, url: str, token: str, customer_id: int,
                   channels: dict | None = None) -> dict:
    kwargs = {"json": {"channels": channels}} if channels else {}
    async with session.request("PUT" if channels else "GET",
                               f"{url}/api/customers/{customer_id}/consent",
                               headers={"Authorization": f"Bearer {token}"},
                               **kwargs) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def _customer_id(hub) -> int | None:
    async with hub.sessionmaker() as session:
        return (await session.execute(select(Customer.id))).scalar_one_or_none()


async def _done(hub, notification_id: str) -> bool:
    return (await status_of(hub, notification_id))[0] not in ("pending", "sending")


async def test_promotional_email_goes_through_its_own_provider_and_unsubscribes(
        tmp_path: Path, db_url: str, providers) -> None:  # noqa: F811
    port = free_port()
    settings = provider_settings(
        tmp_path, providers, port, db_url=db_url,
        email={"categories": {"promotional": {"providers": ["md"]}}},
        stages={"approved": {"channels": ["email"]}})
    running = await start_hub(settings)
    try:
        hub, url = running.hub, running.url
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
            await _event(http, url, "R-10")
            await wait_for(lambda: len(providers.sendgrid.records) == 1)
            customer_id = await wait_for(lambda: _customer_id(hub))
            token = await new_token(hub)
            await _consent(http, url, token, customer_id, {"email": True})

            promo = await plan_promotion(hub, "R-10")
            await wait_for(lambda: _done(hub, promo))
            assert (await status_of(hub, promo))[0] == "sent"
            assert len(providers.sendgrid.records) == 1  # the transactional one only
            [record] = providers.mandrill.records
            headers = record["request"]["headers"]
            assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            [link] = re.findall(r"<(https?://[^>]+)>", headers["List-Unsubscribe"])
            assert link.startswith(f"{url}/u/")

            async with http.post(link, data=b"List-Unsubscribe=One-Click", headers={
                    "Content-Type": "application/x-www-form-urlencoded"}) as response:
                assert response.status == 200
            state = await _consent(http, url, token, customer_id)
            assert state["channels"]["email"] is False

            again = await plan_promotion(hub, "R-10")
            await wait_for(lambda: _done(hub, again))
            assert (await status_of(hub, again))[0] == "skipped"
            assert len(providers.mandrill.records) == 1
    finally:
        await stop_hub(running)


async def test_stop_withdraws_sms_marketing_and_start_restores_only_that(
        tmp_path: Path, db_url: str, providers) -> None:  # noqa: F811
    port = free_port()
    settings = provider_settings(tmp_path, providers, port, db_url=db_url,
                                 stages={"approved": {"channels": ["email", "sms"]}})
    running = await start_hub(settings)
    try:
        hub, url = running.hub, running.url
        async with aiohttp.ClientSession() as http:
            payload = await _event(http, url, "R-20")
            await wait_for(lambda: len(providers.twilio.records) == 1)
            customer_id = await wait_for(lambda: _customer_id(hub))
            token = await new_token(hub)
            await _consent(http, url, token, customer_id, {"sms": True})
            phone = payload["customer"]["phone"]
            inbound = f"{url}/webhooks/tw"

            assert await providers.twilio.send_inbound(inbound, phone, "STOP") == 200
            state = await _consent(http, url, token, customer_id)
            assert state["channels"]["sms"] is False
            assert state["history"][-1]["source"] == "sms_keyword"
            promo = await plan_promotion(hub, "R-20", "sms")
            await wait_for(lambda: _done(hub, promo))
            assert (await status_of(hub, promo))[0] == "skipped"

            assert await providers.twilio.send_inbound(inbound, phone, "START") == 200
            state = await _consent(http, url, token, customer_id)
            assert state["channels"]["sms"] is True
            assert state["channels"]["email"] is False  # never granted, never restored
            promo = await plan_promotion(hub, "R-20", "sms")
            await wait_for(lambda: _done(hub, promo))
            assert (await status_of(hub, promo))[0] == "sent"

            # Withdrawn through the API: a STOP/START pair does not bring it back.
            await _consent(http, url, token, customer_id, {"sms": False})
            assert await providers.twilio.send_inbound(inbound, phone, "STOP") == 200
            assert await providers.twilio.send_inbound(inbound, phone, "START") == 200
            state = await _consent(http, url, token, customer_id)
            assert state["channels"]["sms"] is False
    finally:
        await stop_hub(running)
