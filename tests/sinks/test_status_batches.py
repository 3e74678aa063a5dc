"""One odd event in a provider's status batch costs only itself (hub.contract.parse_batch):
the other events are recorded and the batch is acknowledged, so the provider does not
redeliver it all. Before, each of these batches failed with a TypeError (answered 500)."""

from __future__ import annotations

import json

import pytest

from hub.contract import DeliveryStatus
from returnhub_mailchimp import MandrillSink
from returnhub_mailchimp.config import MandrillSettings
from returnhub_sendgrid import SendGridSink
from returnhub_sendgrid.config import SendGridSettings

from .support import PUBLIC_URL, form_request, inbound, make_context

GOOD_SENDGRID = {"event": "delivered", "timestamp": 1700000000, "sg_event_id": "good",
                 "sg_message_id": "GOOD.filter", "returnhub_message_id": "ntf_1"}


@pytest.mark.parametrize("odd", [
    {"event": ["delivered"], "sg_message_id": "ODD.filter"},  # not a string
    {"event": {"name": "open"}, "sg_message_id": "ODD.filter"},
])
async def test_sendgrid_keeps_the_rest_of_the_batch(odd) -> None:
    sink = SendGridSink(SendGridSettings(api_key="SG.x", base_url="http://127.0.0.1:9"),
                        make_context("mail"))
    body = _dumps([odd, GOOD_SENDGRID])
    updates = await sink.parse_status(inbound(body, url=f"{PUBLIC_URL}/webhooks/mail"))
    assert [(u.provider_message_id, u.status) for u in updates] == [
        ("GOOD", DeliveryStatus.DELIVERED)]


def _dumps(value: object) -> bytes:
    return json.dumps(value).encode()


GOOD_MANDRILL = {"event": "delivered", "ts": 1700000000, "_id": "good",
                 "msg": {"_id": "good", "metadata": {"returnhub_message_id": "ntf_1"}}}


@pytest.mark.parametrize("odd", [
    {"event": ["send"], "_id": "odd", "msg": {"_id": "odd"}},
    {"event": "deferral", "_id": "odd", "msg": {"_id": "odd", "smtp_events": 5}},
])
async def test_mandrill_keeps_the_rest_of_the_batch(odd) -> None:
    sink = MandrillSink(MandrillSettings(api_key="k", base_url="http://127.0.0.1:9"),
                        make_context("md"))
    request = form_request({"mandrill_events": _dumps([odd, GOOD_MANDRILL]).decode()},
                           url=f"{PUBLIC_URL}/webhooks/md")
    updates = await sink.parse_status(request)
    assert [(u.provider_message_id, u.status) for u in updates] == [
        ("good", DeliveryStatus.DELIVERED)]
