"""Engagement through the hub's real ingress: the fake SendGrid's signed open, click and spam
report events and a customer's SMS reply through the fake Twilio become ``message_engagement``
rows; the spam report withdraws email marketing consent."""

from __future__ import annotations

import json

from sqlalchemy import select

from hub import consent
from hub.store.models import Customer
from hub.store.models_engagement import MessageEngagement
from hub.testing.factories import event_payload
from tests.conftest import signed_headers

from .test_through_the_hub import notifications, running  # noqa: F401 - the fixture


async def test_opens_clicks_spam_reports_and_replies_through_the_hub(running) -> None:  # noqa: F811
    hub, client, sendgrid, twilio = running
    payload = event_payload("return.approved", "R-901")
    body = json.dumps(payload).encode()
    assert (await client.post("/webhooks/shop", data=body,
                              headers=signed_headers(body, "msg_engage"))).status == 202
    await hub.drain()
    sent = await notifications(hub)
    [mail_record] = sendgrid.records
    public = f"http://127.0.0.1:{client.server.port}"
    async with hub.sessionmaker() as session, session.begin():
        customer = (await session.execute(select(Customer))).scalar_one()
        await consent.record(session, customer.id, "email", True, "api", customer.created_at)

    for event in ("open", "open", "click", "spamreport"):
        assert await sendgrid.send_status(f"{public}/webhooks/mail", mail_record, event) == 200
    assert await twilio.send_inbound(f"{public}/webhooks/sms", payload["customer"]["phone"],
                                     "Is my refund on its way?") == 200
    # A redelivered batch (same sg_event_id) is acknowledged and changes nothing.
    repeat = sendgrid.events_for(mail_record, "click")
    assert await sendgrid.send_events(f"{public}/webhooks/mail", repeat) == 200
    assert await sendgrid.send_events(f"{public}/webhooks/mail", repeat) == 200

    async with hub.sessionmaker() as session:
        rows = {(r.notification_id, r.kind): (r.events, r.provider) for r in (
            await session.execute(select(MessageEngagement))).scalars()}
        state = await consent.current(session, customer.id, "email")
    assert rows == {(sent["email"].id, "open"): (2, "mail"),
                    (sent["email"].id, "click"): (2, "mail"),
                    (sent["email"].id, "complaint"): (1, "mail"),
                    (sent["sms"].id, "reply"): (1, "sms")}
    assert (state.granted, state.source) == (False, "spam_report")
