"""docs/sinks.md: a sink inside the hub reaches a local fake provider only when
``security.outbound_allow`` names the fakes' network; otherwise the hub's session (the guard
every node uses, checked after resolution) refuses loopback and the send fails."""

from __future__ import annotations

import pytest

from hub.errors import DeliveryError
from hub.netguard import guarded_session, parse_networks
from hub.testing.fake_sendgrid import FakeSendGrid
from returnhub_sendgrid import SendGridSink
from returnhub_sendgrid.config import SendGridSettings

from .support import approved_email, make_context

API_KEY = "SG.test-secret-key-0123456789.abcdefghij"


async def send_through_the_hubs_session(fake: FakeSendGrid, outbound_allow: list[str]):
    async with guarded_session(parse_networks(outbound_allow)) as http:
        sink = SendGridSink(SendGridSettings(api_key=API_KEY, base_url=fake.url),
                            make_context("mail", http=http))
        await sink.start()
        try:
            return await sink.send(approved_email("jane.customer@example.com"))
        finally:
            await sink.close()


async def test_a_local_fake_is_refused_without_outbound_allow():
    async with FakeSendGrid(api_key=API_KEY) as fake:
        with pytest.raises(DeliveryError) as caught:
            await send_through_the_hubs_session(fake, [])
        assert "DestinationBlocked" in str(caught.value)
        assert fake.records == []


async def test_outbound_allow_lets_the_hub_reach_the_fake():
    async with FakeSendGrid(api_key=API_KEY) as fake:
        result = await send_through_the_hubs_session(fake, ["127.0.0.0/8"])
        assert result.provider_message_id and len(fake.records) == 1
