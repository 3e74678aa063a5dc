"""hub.contract's HTTP sink base against a real local server: the status table, Retry-After in
both forms, timeouts that hold, the outbound guard, and excerpts without recipients or keys."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from email.utils import formatdate
from typing import ClassVar

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import Field, SecretStr

from hub.contract import (
    HttpSink,
    HttpSinkSettings,
    MessageRejected,
    OutboundMessage,
    OutcomeUnknown,
    ProviderMisconfigured,
    ProviderUnavailable,
    RateLimited,
    RecipientRefused,
    SendResult,
    StatusTable,
    parse_retry_after,
)
from hub.netguard import guarded_session
from tests.sinks.support import make_context

KEY = "key-Zq8xW2v9"
RECIPIENT = "jane.doe@example.com"
PHONE = "+14155550123"


class ChatSettings(HttpSinkSettings):
    """A made-up provider's settings."""

    base_url: str = Field("http://127.0.0.1:9", description="API base URL.")
    token: SecretStr = Field(description="API key.")


class ChatSink(HttpSink):
    """The smallest HTTP sink: its request and the reading of a 2xx."""

    type: ClassVar[str] = "chat"
    channels: ClassVar[frozenset[str]] = frozenset({"chat"})
    Config: ClassVar[type[ChatSettings]] = ChatSettings
    status_table: ClassVar[StatusTable] = StatusTable(vendor="Chat")

    def secrets(self) -> tuple[str, ...]:
        return (self.config.token.get_secret_value(),)

    async def send(self, message: OutboundMessage) -> SendResult:
        answer = await self.request(
            "POST", f"{self.config.base_url}/send", json={"to": message.to, "text": message.text},
            headers={"Authorization": f"Bearer {self.config.token.get_secret_value()}"})
        if answer.status != 200:
            raise self.error_for(answer)
        return SendResult(provider_message_id=answer.json()["id"])


class SmsLikeSink(ChatSink):
    """A provider that may have taken the message before its 5xx, and 404s unknown numbers."""

    status_table: ClassVar[StatusTable] = StatusTable(
        vendor="Texts", server_error=OutcomeUnknown, not_found=RecipientRefused)


class Provider:
    """A local server answering each POST /send with the next planned answer."""

    def __init__(self) -> None:
        self.answers: list[web.Response] = []
        self.received = 0
        self.release = asyncio.Event()
        self.hang = False

    async def send(self, _request: web.Request) -> web.Response:
        self.received += 1
        if self.hang:
            await self.release.wait()
        if self.answers:
            return self.answers.pop(0)
        return web.json_response({"id": f"m{self.received}"})


@pytest.fixture
async def provider() -> AsyncIterator[tuple[Provider, str]]:
    state = Provider()
    app = web.Application()
    app.router.add_post("/send", state.send)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield state, f"http://127.0.0.1:{server.port}"
    finally:
        state.release.set()
        await server.close()


def message() -> OutboundMessage:
    return OutboundMessage(message_id="ntf_1", channel="chat", to=RECIPIENT, text="hello")


async def started(cls: type[ChatSink], base_url: str, http: aiohttp.ClientSession | None,
                  **settings) -> ChatSink:
    sink = cls(ChatSettings(base_url=base_url, token=KEY, **settings),
               make_context("chat", http=http))
    await sink.start()
    return sink


async def test_a_2xx_is_sent_on_the_hubs_session(provider) -> None:
    state, url = provider
    async with aiohttp.ClientSession() as http:
        sink = await started(ChatSink, url, http)
        assert sink.session is http
        result = await sink.send(message())
        await sink.close()
        assert not http.closed, "the hub's session is the hub's to close"
    assert result.provider_message_id == "m1" and state.received == 1


@pytest.mark.parametrize(("status", "expected"), [
    (400, MessageRejected), (422, MessageRejected), (401, ProviderMisconfigured),
    (403, ProviderMisconfigured), (404, ProviderMisconfigured), (409, MessageRejected),
    (429, RateLimited), (500, ProviderUnavailable), (503, ProviderUnavailable)])
async def test_status_table(provider, status, expected) -> None:
    state, url = provider
    state.answers.append(web.json_response({"error": "no"}, status=status))
    async with aiohttp.ClientSession() as http:
        sink = await started(ChatSink, url, http)
        with pytest.raises(expected) as caught:
            await sink.send(message())
    assert type(caught.value) is expected and caught.value.status == status
    assert "[chat]" in str(caught.value) and "Chat" in str(caught.value)


@pytest.mark.parametrize(("status", "expected"), [
    (500, OutcomeUnknown), (502, OutcomeUnknown), (404, RecipientRefused)])
async def test_declared_meanings_of_5xx_and_404(provider, status, expected) -> None:
    state, url = provider
    state.answers.append(web.Response(status=status, text="gateway"))
    async with aiohttp.ClientSession() as http:
        sink = await started(SmsLikeSink, url, http)
        with pytest.raises(expected):
            await sink.send(message())


async def test_retry_after_in_seconds_and_as_an_http_date(provider) -> None:
    state, url = provider
    state.answers.append(web.Response(status=429, headers={"Retry-After": "7"}))
    state.answers.append(web.Response(status=429, headers={
        "Retry-After": formatdate(time.time() + 120, usegmt=True)}))
    state.answers.append(web.Response(status=429, headers={"Retry-After": "soon"}))
    async with aiohttp.ClientSession() as http:
        sink = await started(ChatSink, url, http)
        waits = []
        for _ in range(3):
            with pytest.raises(RateLimited) as caught:
                await sink.send(message())
            waits.append(caught.value.retry_after)
    assert waits[0] == 7
    assert 115 <= waits[1] <= 121
    assert waits[2] is None


def test_retry_after_dates_in_the_past_and_other_forms() -> None:
    now = 1_000_000.0
    assert parse_retry_after(formatdate(now - 60, usegmt=True), now) == 0
    assert parse_retry_after(formatdate(now + 30, usegmt=True), now) == 30
    # RFC 9110's obsolete forms: RFC 850 and asctime (no zone: GMT), 784111777 in Unix time.
    assert parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", 784111777 - 3) == 3
    assert parse_retry_after("Sun Nov  6 08:49:37 1994", 784111777 - 10) == 10
    assert parse_retry_after("-5") == 0 and parse_retry_after("inf") is None
    assert parse_retry_after("") is None and parse_retry_after(None) is None


async def test_errors_carry_no_recipient_and_no_key(provider) -> None:
    state, url = provider
    state.answers.append(web.json_response(
        {"error": f"bad recipient {RECIPIENT} or {PHONE}; key {KEY} refused"}, status=400))
    async with aiohttp.ClientSession() as http:
        sink = await started(ChatSink, url, http)
        with pytest.raises(MessageRejected) as caught:
            await sink.send(message())
    shown = str(caught.value)
    assert "bad recipient" in shown
    assert RECIPIENT not in shown and PHONE not in shown and KEY not in shown


async def test_the_outbound_guards_refusal_is_a_misconfiguration(provider) -> None:
    state, url = provider
    async with guarded_session() as http:  # loopback is not allowed
        sink = await started(ChatSink, url, http)
        with pytest.raises(ProviderMisconfigured) as caught:
            await sink.send(message())
    assert "outbound guard" in str(caught.value) and state.received == 0


async def test_the_read_timeout_holds_and_the_outcome_is_unknown(provider) -> None:
    state, url = provider
    state.hang = True
    async with aiohttp.ClientSession() as http:
        sink = await started(ChatSink, url, http, read_timeout_seconds=0.2)
        started_at = time.monotonic()
        with pytest.raises(OutcomeUnknown):
            await sink.send(message())
    assert time.monotonic() - started_at < 5 and state.received == 1


async def test_nothing_listening_is_unavailable() -> None:
    async with aiohttp.ClientSession() as http:
        sink = await started(ChatSink, "http://127.0.0.1:9", http)
        with pytest.raises(ProviderUnavailable):
            await sink.send(message())


async def test_sending_before_start_is_a_clear_error() -> None:
    sink = ChatSink(ChatSettings(token=KEY), make_context("chat"))
    with pytest.raises(RuntimeError, match="'chat' was not started"):
        await sink.send(message())
