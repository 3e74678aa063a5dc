"""The sinks inside a running hub: an event goes out through SendGrid and Twilio (fakes over
TCP), and the fakes' signed status webhooks come back through the hub's real ingress."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from hub.runtime import Hub
from hub.store.models import Customer, DeliveryReceipt, Notification
from hub.testing.factories import event_payload
from hub.testing.fake_sendgrid import FakeSendGrid
from hub.testing.fake_twilio import FakeTwilio
from hub.web.app import create_app
from tests.conftest import make_settings, signed_headers, started_hub

from .support import free_port

ACCOUNT = "AC" + "d4" * 16


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[tuple[Hub, TestClient, FakeSendGrid,
                                                         FakeTwilio]]:
    """A hub whose email goes to a fake SendGrid and SMS to a fake Twilio."""
    async with FakeSendGrid(api_key="SG.hub-test") as sendgrid, \
            FakeTwilio(account_sid=ACCOUNT, auth_token="hub-test-token") as twilio:
        port = free_port()
        settings = make_settings(
            tmp_path, server={"public_url": f"http://127.0.0.1:{port}"},
            sinks={"mail": {"type": "sendgrid", "api_key": "SG.hub-test",
                            "base_url": sendgrid.url,
                            "webhook_public_key": sendgrid.public_key_b64},
                   "sms": {"type": "twilio_sms", "account_sid": ACCOUNT,
                           "auth_token": "hub-test-token", "from_number": "+15005550006",
                           "base_url": twilio.url}},
            channels={"email": {"providers": ["mail"]}, "sms": {"providers": ["sms"]}})
        async with started_hub(settings) as hub:
            async with TestClient(TestServer(create_app(hub), port=port)) as client:
                yield hub, client, sendgrid, twilio


async def notifications(hub: Hub) -> dict[str, Notification]:
    """Notifications by channel."""
    async with hub.sessionmaker() as session:
        return {n.channel: n for n in (await session.execute(select(Notification))).scalars()}


async def test_send_and_receipts_through_the_hub(running) -> None:
    hub, client, sendgrid, twilio = running
    payload = event_payload("return.approved", "R-900")
    body = json.dumps(payload).encode()
    response = await client.post("/webhooks/shop", data=body,
                                 headers=signed_headers(body, "msg_sinks"))
    assert response.status == 202
    await hub.drain()

    sent = await notifications(hub)
    assert {n.status for n in sent.values()} == {"sent"}
    [mail_record], [sms_record] = sendgrid.records, twilio.records
    assert sent["email"].provider_message_id == mail_record["x_message_id"]
    assert sent["sms"].provider_message_id == sms_record["sid"]
    assert mail_record["request"]["custom_args"]["returnhub_message_id"] == sent["email"].id
    callback = sms_record["request"]["StatusCallback"]
    assert callback.endswith(f"/webhooks/sms?mid={sent['sms'].id}")

    public = f"http://127.0.0.1:{client.server.port}"
    assert await sendgrid.send_status(f"{public}/webhooks/mail", mail_record, "delivered") == 200
    assert await twilio.send_status(None, sms_record, "delivered") == 200
    assert await sendgrid.send_events(f"{public}/webhooks/mail",
                                      sendgrid.events_for(mail_record, "bounce"),
                                      signed=False) == 401
    delivered = await notifications(hub)
    assert {n.status for n in delivered.values()} == {"delivered"}

    # The customer texts STOP: the hub turns their SMS preference off.
    phone = payload["customer"]["phone"]
    assert await twilio.send_inbound(f"{public}/webhooks/sms", phone, "STOP") == 200
    async with hub.sessionmaker() as session:
        customer = (await session.execute(select(Customer))).scalar_one()
        receipts = (await session.execute(select(DeliveryReceipt))).scalars().all()
    assert customer.preferences.get("sms") is False
    assert len(receipts) == 3

    # ... and START turns it back on.
    assert await twilio.send_inbound(f"{public}/webhooks/sms", phone, "START") == 200
    async with hub.sessionmaker() as session:
        customer = (await session.execute(select(Customer))).scalar_one()
    assert customer.preferences.get("sms") is True


async def test_a_full_status_batch_over_a_megabyte_is_taken(running) -> None:
    # Found from outside: 1,000 Mandrill events with opens and clicks (1.3 MB) were refused
    # 413 by the 1 MB limit meant for platforms' events, losing the whole batch for good.
    # SendGrid's batches grow the same way.
    hub, client, sendgrid, _twilio = running
    events = [{"event": "open", "email": f"c{n}@example.com", "timestamp": 1700000000 + n,
               "sg_event_id": f"big-{n}", "sg_message_id": f"M{n}.filter0001",
               "useragent": "Mozilla/5.0 " + "x" * 1200, "ip": "192.0.2.1"}
              for n in range(1000)]
    url = f"{hub.public_url}/webhooks/mail"
    assert len(json.dumps(events)) > 1_048_576
    assert await sendgrid.send_events(url, events) == 200
