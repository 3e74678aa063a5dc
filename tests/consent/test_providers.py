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
from tests.consent.helpers import plan_promotion, plan_promotions, status_of
from tests.delivery.conftest import free_port, provider_settings, start_hub, stop_hub
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


async def _has_status(hub, notification_id: str, status: str) -> bool:
    return (await status_of(hub, notification_id))[0] == status


async def _done(hub, notification_id: str) -> bool:
    return (await status_of(hub, notification_id))[0] not in ("pending", "sending")


async def test_promotional_email_goes_through_its_own_provider_and_unsubscribes(
        tmp_path: Path, db_url: str, providers) -> None:
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
        tmp_path: Path, db_url: str, providers) -> None:
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


async def test_promotional_sms_goes_through_a_messaging_service(
        tmp_path: Path, db_url: str, providers) -> None:
    """Twilio's bulk path: a second Twilio sink sending with a Messaging Service SID, chosen by
    the promotional route; transactional SMS keep the plain sender number."""
    port = free_port()
    settings = provider_settings(tmp_path, providers, port, db_url=db_url,
                                 stages={"approved": {"channels": ["sms"]}})
    service = "MG" + "ab" * 16
    sinks = {**settings.sinks, "tw_bulk": {
        **settings.sinks["tw"], "from_number": None, "messaging_service_sid": service}}
    channels = {**{k: v.model_dump() for k, v in settings.channels.items()},
                "sms": {"providers": ["tw"],
                        "categories": {"promotional": {"providers": ["tw_bulk"]}}}}
    settings = type(settings)(**{**settings.model_dump(), "sinks": sinks, "channels": channels})
    running = await start_hub(settings)
    try:
        hub, url = running.hub, running.url
        async with aiohttp.ClientSession() as http:
            await _event(http, url, "R-30")
            await wait_for(lambda: len(providers.twilio.records) == 1)
            customer_id = await wait_for(lambda: _customer_id(hub))
            await _consent(http, url, await new_token(hub), customer_id, {"sms": True})
            promo = await plan_promotion(hub, "R-30", "sms")
            await wait_for(lambda: _done(hub, promo))
        assert (await status_of(hub, promo))[0] == "sent"
        transactional, promotional = providers.twilio.records
        assert transactional["request"].get("From") and \
            not transactional["request"].get("MessagingServiceSid")
        assert promotional["request"]["MessagingServiceSid"] == service
        assert not promotional["request"].get("From")
    finally:
        await stop_hub(running)


async def test_promotions_share_one_sendgrid_call_and_count_per_recipient(
        tmp_path: Path, db_url: str, providers) -> None:
    """SendGrid's bulk path: five promotions of the same content go out as one mail/send with
    five personalizations (each its own unsubscribe link and message id); every notification is
    sent, and each recipient's delivery event moves its own notification."""
    offer = tmp_path / "templates" / "offer"
    offer.mkdir(parents=True)
    (offer / "email.subject.j2").write_text("20% off your next order")
    (offer / "email.txt.j2").write_text(
        "Take 20% off with code AUTUMN.\n--\n{{ brand.postal_address }}\n"
        "Unsubscribe: {{ unsubscribe_url }}\n")
    (offer / "email.html.j2").write_text(
        "<p>Take 20% off with code AUTUMN.</p><p>{{ brand.postal_address }}<br>"
        '<a href="{{ unsubscribe_url }}">Unsubscribe</a></p>')
    port = free_port()
    settings = provider_settings(
        tmp_path, providers, port, db_url=db_url, email={"providers": ["sg"]},
        stages={"approved": {"channels": ["email"]}},
        notifications={"templates_dir": str(tmp_path / "templates"),
                       "brand": {"postal_address": "1 Harbour Road, Bristol"}},
        sendgrid_policy={"batch_window_ms": 200})
    running = await start_hub(settings)
    try:
        hub, url = running.hub, running.url
        async with aiohttp.ClientSession() as http:
            references = [f"R-4{n}" for n in range(5)]
            for n, reference in enumerate(references):
                payload = event_payload("return.approved", reference)
                payload["customer"] = {"id": f"C-4{n}", "email": f"c4{n}@example.com"}
                body = json.dumps(payload).encode()
                async with http.post(f"{url}/webhooks/shop", data=body,
                                     headers=signed_headers(body)) as response:
                    assert response.status == 202
            await wait_for(lambda: len(providers.sendgrid.records) == 5)
            token = await new_token(hub)
            async with hub.sessionmaker() as session:
                customer_ids = list((await session.execute(select(Customer.id))).scalars())
            for customer_id in customer_ids:
                await _consent(http, url, token, customer_id, {"email": True})
            promos = await plan_promotions(hub, references, template="offer")
            for promo in promos:
                await wait_for(lambda promo=promo: _done(hub, promo))
        assert len(providers.sendgrid.records) == 6  # five transactional, one batch

        batch = providers.sendgrid.records[5]
        personalizations = batch["request"]["personalizations"]
        assert sorted(p["custom_args"]["returnhub_message_id"] for p in personalizations) \
            == sorted(promos)
        assert len({p["to"][0]["email"] for p in personalizations}) == 5
        links = {p["headers"]["List-Unsubscribe"] for p in personalizations}
        assert len(links) == 5  # one link per recipient, as a substitution in the body
        assert all(p["substitutions"]["-returnhub_unsubscribe_url-"] in p["headers"][
            "List-Unsubscribe"] for p in personalizations)
        for promo in promos:
            assert (await status_of(hub, promo))[0] == "sent"

        assert await providers.sendgrid.send_status(f"{url}/webhooks/sg", batch,
                                                    "delivered") == 200
        for promo in promos:
            await wait_for(lambda promo=promo: _has_status(hub, promo, "delivered"))
    finally:
        await stop_hub(running)
