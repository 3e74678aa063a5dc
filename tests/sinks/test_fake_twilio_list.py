"""The fake Twilio's Message list and fetch, read with the real Twilio SDK: filters, paging,
newest first, and the mode in which lookups answer 503 (what the SMS reconcile relies on)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from hub.testing.fake_twilio import FakeTwilio

SENDER = "+15005550006"
ALICE, BOB = "+14155550100", "+14155550101"
T0 = datetime(2026, 12, 3, 6, 0, 0, tzinfo=UTC)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio() as server:
        yield server


@pytest.fixture
async def client(fake: FakeTwilio) -> AsyncIterator[Client]:
    http = AsyncTwilioHttpClient()
    sdk = Client(fake.account_sid, fake.auth_token, http_client=http)
    sdk.api.base_url = fake.url
    try:
        yield sdk
    finally:
        await http.close()


async def send(client: Client, fake: FakeTwilio, to: str, body: str,
               at: datetime | None = None) -> str:
    """Create one message (sent at ``at`` by the fake's clock); returns its sid."""
    if at is not None:
        fake.clock = lambda: at
    return (await client.messages.create_async(to=to, from_=SENDER, body=body)).sid


async def test_list_pages_newest_first_through_the_sdk(fake, client) -> None:
    sids = [await send(client, fake, ALICE, f"m{n}", T0 + timedelta(seconds=n))
            for n in range(7)]
    await send(client, fake, BOB, "other", T0 + timedelta(seconds=3))
    before = fake.request_count
    listed = await client.messages.list_async(to=ALICE, page_size=3)
    assert [m.sid for m in listed] == sids[::-1]
    assert fake.request_count - before == 3  # 3 + 3 + 1, following next_page_uri
    assert fake.stats()["list_pages"] == 3 and fake.stats()["later_list_pages"] == 2
    assert all(m.to == ALICE and m.date_sent is not None for m in listed)
    assert [m.sid for m in await client.messages.list_async(from_=SENDER, limit=2)] == [
        sids[6], sids[5]]


async def test_paging_by_token_does_not_shift_when_new_messages_arrive(fake, client) -> None:
    sids = [await send(client, fake, ALICE, f"m{n}", T0) for n in range(5)]
    first = await client.messages.page_async(to=ALICE, page_size=2)
    assert [m.sid for m in first] == [sids[4], sids[3]]
    newer = await send(client, fake, ALICE, "arrived meanwhile", T0)
    second = await first.next_page_async()
    assert [m.sid for m in second] == [sids[2], sids[1]]
    third = await second.next_page_async()
    assert [m.sid for m in third] == [sids[0]] and third.next_page_url is None
    back = await second.previous_page_async()
    assert [m.sid for m in back] == [sids[4], sids[3]]
    assert (await client.messages.list_async(to=ALICE))[0].sid == newer


async def test_date_sent_filters_to_the_second_and_by_day(fake, client) -> None:
    at = {n: T0 + timedelta(minutes=n) for n in (0, 5, 10)}
    sids = {n: await send(client, fake, ALICE, f"m{n}", when) for n, when in at.items()}
    await send(client, fake, ALICE, "yesterday", T0 - timedelta(days=1))
    window = await client.messages.list_async(to=ALICE, date_sent_after=at[5],
                                              date_sent_before=at[10])
    assert [m.sid for m in window] == [sids[10], sids[5]]  # both bounds inclusive
    only = await client.messages.list_async(date_sent=at[5])
    assert [m.sid for m in only] == [sids[5]]
    auth = aiohttp.encode_basic_auth(fake.account_sid, fake.auth_token)
    url = f"{fake.url}/2010-04-01/Accounts/{fake.account_sid}/Messages.json"
    async with aiohttp.ClientSession(headers={"Authorization": auth}) as http:
        async with http.get(url, params={"DateSent": "2026-12-03"}) as answer:
            assert [m["sid"] for m in (await answer.json())["messages"]] == [
                sids[10], sids[5], sids[0]]
        async with http.get(url, params={"DateSent>": "yesterday"}) as answer:
            error = await answer.json()
            assert answer.status == 400 and error["code"] == 20001
            assert "DateSent>" in error["message"]
        async with http.get(url, params={"PageSize": "0"}) as answer:
            assert answer.status == 400 and "PageSize" in (await answer.json())["message"]


async def test_lookups_answer_503_while_down_and_sends_still_work(fake, client) -> None:
    sid = await send(client, fake, ALICE, "hello")
    fake.set_lookups_down()
    with pytest.raises(TwilioException):  # the SDK's "Unable to fetch page"
        await client.messages.list_async(to=ALICE)
    with pytest.raises(TwilioRestException) as fetched:
        await client.messages(sid).fetch_async()
    assert fetched.value.status == 503
    second = await send(client, fake, ALICE, "sent during the outage")
    async with aiohttp.ClientSession() as http:  # switched back at run time, over HTTP
        async with http.post(f"{fake.url}/__fake__/faults",
                             json={"lookups_down": False}) as answer:
            assert answer.status == 200
        async with http.get(f"{fake.url}/__fake__/stats") as answer:
            stats = await answer.json()
        assert stats["lookups_refused"] == 2 and stats["records"] == 2
    assert [m.sid for m in await client.messages.list_async(to=ALICE)] == [second, sid]
    assert (await client.messages(sid).fetch_async()).sid == sid


async def test_accepted_then_503_stores_exactly_one_message(fake, client) -> None:
    fake.fail_after_accept(count=1)
    with pytest.raises(TwilioRestException) as lost:
        await send(client, fake, ALICE, "taken, then the answer is lost")
    assert lost.value.status == 503
    assert len(fake.records) == 1 and fake.records[0]["answer_lost"] == "503"
    assert fake.lost_answers == 1
    # The message exists at the provider: the list finds it, exactly once.
    listed = await client.messages.list_async(to=ALICE)
    assert [m.sid for m in listed] == [fake.records[0]["sid"]]
    sid = await send(client, fake, ALICE, "answered as usual")
    assert len(fake.records) == 2 and "answer_lost" not in fake.records[1]
    assert [m.sid for m in await client.messages.list_async(to=ALICE)][0] == sid


async def test_a_queued_message_has_no_date_sent_and_no_date_filter_finds_it() -> None:
    now = [T0]
    async with FakeTwilio(queue_seconds=60) as fake:
        fake.clock = lambda: now[0]
        http = AsyncTwilioHttpClient()
        sdk = Client(fake.account_sid, fake.auth_token, http_client=http)
        sdk.api.base_url = fake.url
        try:
            sid = (await sdk.messages.create_async(to=ALICE, from_=SENDER, body="q")).sid
            listed = await sdk.messages.list_async(to=ALICE)
            assert [m.sid for m in listed] == [sid] and listed[0].date_sent is None
            since = T0 - timedelta(hours=1)
            assert await sdk.messages.list_async(to=ALICE, date_sent_after=since) == []
            now[0] = T0 + timedelta(seconds=60)  # Twilio sends it
            found = await sdk.messages.list_async(to=ALICE, date_sent_after=since)
            assert [m.sid for m in found] == [sid] and found[0].date_sent == now[0]
        finally:
            await http.close()
