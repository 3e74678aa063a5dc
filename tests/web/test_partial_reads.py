"""Bodies that arrive in more than one read, over a raw socket to the real server on a real port.

Every route that reads a body (source webhooks, sink status webhooks, the admin API, the
dashboard's sign-in and CSRF-checked forms) gets it in pieces 30 ms apart, with a
Content-Length and chunked, at sizes up to its limit (accepted, and stored where the route
stores) and over it (413, JSON, and for a chunked body before the client finished sending).
The customer portal has no route that reads a body (GET pages and an event stream only).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlencode

import pytest
import pytest_asyncio
from aiohttp import web
from sqlalchemy import func, select

from hub.runtime import Hub
from hub.store.models import DeliveryReceipt, InboxEvent
from hub.testing.factories import event_payload
from hub.testing.fake_sendgrid import FakeSendGrid
from hub.testing.fake_twilio import FakeTwilio
from hub.testing.rawhttp import RawResponse, send_request
from hub.web.admin.routing import MAX_BODY_BYTES as ADMIN_LIMIT
from hub.web.app import create_app
from hub.web.auth import SESSION_COOKIE, csrf_token
from hub.web.body import FORM_MAX_BYTES
from tests.conftest import database_url, make_settings, signed_headers
from tests.web.conftest import new_token

PUBLIC = "http://hub.test"
WEBHOOK_LIMIT = 1_048_576  # server.max_body_bytes' default
#: server.max_status_body_bytes here (a provider's batch may be larger than a platform's event;
#: its default, 16 MiB, would only make the refused bodies bigger).
STATUS_LIMIT = 2 * WEBHOOK_LIMIT
STATUS_SIZES = (1000, 64 * 1024, WEBHOOK_LIMIT + 1, STATUS_LIMIT)
PIECES, PAUSE = 4, 0.03
#: Sizes accepted (the last one exactly the limit) and refused, per limit.
WEBHOOK_SIZES = (1000, 64 * 1024, 500_000, WEBHOOK_LIMIT)
OVER = (1, 3 * 1024 * 1024)  # one byte over; far over (the sender must be cut short)
MODES = pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])


class Served:
    """The hub's app on a real loopback port, and what the tests need to sign for it."""

    def __init__(self, hub: Hub, port: int, sendgrid: FakeSendGrid, twilio: FakeTwilio):
        self.hub, self.port, self.sendgrid, self.twilio = hub, port, sendgrid, twilio

    async def send(self, path: str, body: bytes, headers: dict[str, str], *,
                   chunked: bool, pieces: int = PIECES, limit: int | None = None
                   ) -> RawResponse:
        """POST ``body`` in pieces; past ``limit`` the client waits for the answer before
        sending more (so a server that answers early is seen to)."""
        return await send_request("127.0.0.1", self.port, "POST", path, body, headers,
                                  chunked=chunked, pieces=pieces, pause=PAUSE,
                                  hold_after=limit + 1 if limit is not None else None)

    async def count(self, model, *where) -> int:
        async with self.hub.sessionmaker() as session:
            return (await session.execute(select(func.count()).select_from(model)
                                          .where(*where))).scalar_one()


#: One served hub per database for the whole module (a hub per case cost 30 times what its
#: request did): every case sends under its own ids, and those that check nothing was stored
#: compare the count before and after.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def fakes() -> tuple[FakeSendGrid, FakeTwilio]:
    return FakeSendGrid(), FakeTwilio()


@pytest_asyncio.fixture(scope="module", loop_scope="module",
                        params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def module_db_url(request: pytest.FixtureRequest,
                        tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """The module's database: a SQLite file, or a new PostgreSQL database dropped after."""
    async with database_url(request.param, tmp_path_factory.mktemp("partial")) as url:
        yield url


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def served(tmp_path_factory: pytest.TempPathFactory, module_db_url: str,
                 fakes) -> AsyncIterator[Served]:
    sendgrid, twilio = fakes
    tmp_path = tmp_path_factory.mktemp("served")
    settings = make_settings(
        tmp_path, module_db_url,
        server={"public_url": PUBLIC, "max_status_body_bytes": STATUS_LIMIT},
        sinks={"outbox": {"type": "file", "directory": str(tmp_path / "outbox")},
               "sg": {"type": "sendgrid", "api_key": "SG.x", "base_url": "http://127.0.0.1:9",
                      "webhook_public_key": sendgrid.public_key_b64},
               "tw": {"type": "twilio_sms", "account_sid": twilio.account_sid,
                      "auth_token": twilio.auth_token, "from_number": "+15005550006",
                      "base_url": "http://127.0.0.1:9"}})
    hub = Hub.build(settings)
    await hub.start(workers=False)
    runner = web.AppRunner(create_app(hub), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield Served(hub, runner.addresses[0][1], sendgrid, twilio)
    finally:
        await runner.cleanup()
        await hub.stop()


async def read_token(served: Served) -> str:
    """A new read token (token names are unique, and the module's cases share one hub)."""
    return await new_token(served.hub, f"ops-{uuid.uuid4().hex[:12]}", scope="read")


def padded_json(data: object, size: int) -> bytes:
    """``data`` as JSON, exactly ``size`` bytes: whitespace after the opening bracket, so that
    any cut-off piece is invalid JSON."""
    body = json.dumps(data).encode()
    assert len(body) <= size
    return body[:1] + b" " * (size - len(body)) + body[1:]


def padded_form(fields: dict[str, str], size: int) -> dict[str, str]:
    """``fields`` after a ``pad`` field making the URL-encoded form exactly ``size`` bytes (the
    fields that matter come last, in the last piece)."""
    fields = {"pad": "", **fields}
    fields["pad"] = "x" * (size - len(urlencode(fields)))
    assert len(urlencode(fields)) == size
    return fields


def assert_too_large(response: RawResponse, limit: int) -> None:
    assert response.status == 413, response.body[:300]
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["error"] == {"code": "body_too_large",
                                        "message": f"the body exceeds {limit} bytes"}


def assert_cut_short(response: RawResponse, body: bytes) -> None:
    """The answer came once the limit was passed, not after the whole body."""
    assert response.sent < len(body), "the server read the whole over-limit body"


# --- source webhook (Standard Webhooks) ---------------------------------------------------


@MODES
@pytest.mark.parametrize("size", WEBHOOK_SIZES)
async def test_a_signed_source_webhook_in_pieces_is_accepted_and_stored(served, chunked, size):
    msg_id = f"msg_{uuid.uuid4().hex}"
    body = padded_json(event_payload("return.approved", f"R-{msg_id}"), size)
    response = await served.send("/webhooks/shop", body, signed_headers(body, msg_id),
                                 chunked=chunked)
    assert response.status == 202, response.body[:300]
    assert response.json() == {"status": "accepted", "events": 1, "new": 1}
    assert await served.count(InboxEvent, InboxEvent.source_event_id == msg_id) == 1


@MODES
@pytest.mark.parametrize("over", OVER)
async def test_a_source_webhook_over_the_limit_is_413(served, chunked, over):
    msg_id = f"msg_{uuid.uuid4().hex}"
    body = padded_json(event_payload("return.approved", "R-big"), WEBHOOK_LIMIT + over)
    stored = await served.count(InboxEvent)
    response = await served.send("/webhooks/shop", body, signed_headers(body, msg_id),
                                 chunked=chunked, pieces=PIECES * (8 if over > 1 else 1),
                                 limit=WEBHOOK_LIMIT)
    assert_too_large(response, WEBHOOK_LIMIT)
    if over > 1:
        assert_cut_short(response, body)
    assert await served.count(InboxEvent) == stored


# --- sink status webhooks: SendGrid (signed JSON), Twilio (signed form) ----------------------


def sendgrid_events(event_id: str) -> list[dict]:
    return [{"email": "a@example.com", "event": "delivered", "timestamp": int(time.time()),
             "sg_event_id": event_id, "sg_message_id": "m1.filter"}]


@MODES
@pytest.mark.parametrize("size", STATUS_SIZES)
async def test_a_signed_sendgrid_event_webhook_in_pieces_is_recorded(served, chunked, size):
    event_id = f"sg-{uuid.uuid4().hex}"
    body = padded_json(sendgrid_events(event_id), size)
    headers = {**served.sendgrid.sign(body), "Content-Type": "application/json"}
    response = await served.send("/webhooks/sg", body, headers, chunked=chunked)
    assert response.status == 200, response.body[:300]
    assert response.json()["new"] == 1
    assert await served.count(DeliveryReceipt, DeliveryReceipt.provider == "sg",
                              DeliveryReceipt.event_id == event_id) == 1


@MODES
async def test_a_sendgrid_event_webhook_over_the_limit_is_413(served, chunked):
    body = padded_json(sendgrid_events("sg-big"), 2 * STATUS_LIMIT)
    headers = {**served.sendgrid.sign(body), "Content-Type": "application/json"}
    stored = await served.count(DeliveryReceipt)
    response = await served.send("/webhooks/sg", body, headers, chunked=chunked,
                                 pieces=PIECES * 8, limit=STATUS_LIMIT)
    assert_too_large(response, STATUS_LIMIT)
    assert_cut_short(response, body)
    assert await served.count(DeliveryReceipt) == stored


def twilio_form(served: Served, size: int) -> tuple[str, bytes, dict[str, str]]:
    sid = "SM" + uuid.uuid4().hex
    form = padded_form({"MessageSid": sid, "MessageStatus": "delivered",
                        "AccountSid": served.twilio.account_sid, "To": "+14155550100"}, size)
    headers = {"X-Twilio-Signature": served.twilio.sign(f"{PUBLIC}/webhooks/tw", form),
               "Content-Type": "application/x-www-form-urlencoded"}
    return sid, urlencode(form).encode(), headers


@MODES
@pytest.mark.parametrize("size", (300, 64 * 1024, STATUS_LIMIT))
async def test_a_signed_twilio_status_callback_in_pieces_is_recorded(served, chunked, size):
    sid, body, headers = twilio_form(served, size)
    response = await served.send("/webhooks/tw", body, headers, chunked=chunked)
    assert response.status == 200, response.body[:300]
    assert response.json()["new"] == 1
    assert await served.count(DeliveryReceipt, DeliveryReceipt.provider_message_id == sid) == 1


@MODES
async def test_a_twilio_status_callback_over_the_limit_is_413(served, chunked):
    _, body, headers = twilio_form(served, STATUS_LIMIT + 1)
    stored = await served.count(DeliveryReceipt)
    response = await served.send("/webhooks/tw", body, headers, chunked=chunked)
    assert_too_large(response, STATUS_LIMIT)
    assert await served.count(DeliveryReceipt) == stored


# --- the admin API ----------------------------------------------------------------------------


@MODES
@pytest.mark.parametrize("size", (100, 64 * 1024, ADMIN_LIMIT))
async def test_an_admin_api_post_in_pieces_is_read_whole(served, chunked, size):
    token = await read_token(served)
    body = padded_json({"reference": "R-none", "limit": 5}, size)
    response = await served.send("/api/returns/search", body, {
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        chunked=chunked)
    assert response.status == 200, response.body[:300]
    assert response.json() == {"items": [], "next_cursor": None}


@MODES
@pytest.mark.parametrize("over", OVER)
async def test_an_admin_api_post_over_the_limit_is_413(served, chunked, over):
    token = await read_token(served)
    body = padded_json({"reference": "R-none"}, ADMIN_LIMIT + over)
    response = await served.send("/api/returns/search", body, {
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        chunked=chunked, pieces=PIECES * (8 if over > 1 else 1), limit=ADMIN_LIMIT)
    assert_too_large(response, ADMIN_LIMIT)
    if over > 1:
        assert_cut_short(response, body)


# --- the dashboard's forms ---------------------------------------------------------------------


@MODES
@pytest.mark.parametrize("size", (200, 20_000, FORM_MAX_BYTES))
async def test_the_sign_in_form_in_pieces_signs_in(served, chunked, size):
    token = await read_token(served)
    body = urlencode(padded_form({"token": token}, size)).encode()
    response = await served.send("/admin/session", body, {
        "Content-Type": "application/x-www-form-urlencoded"}, chunked=chunked)
    assert response.status == 303, response.body[:300]
    assert response.headers["Location"] == "/admin/"
    assert f"{SESSION_COOKIE}={token}" in response.headers["Set-Cookie"]


@MODES
@pytest.mark.parametrize("over", OVER)
async def test_a_sign_in_form_over_the_limit_is_413(served, chunked, over):
    token = await read_token(served)
    body = urlencode(padded_form({"token": token}, FORM_MAX_BYTES + over)).encode()
    response = await served.send("/admin/session", body, {
        "Content-Type": "application/x-www-form-urlencoded"}, chunked=chunked,
        pieces=PIECES * (8 if over > 1 else 1), limit=FORM_MAX_BYTES)
    assert_too_large(response, FORM_MAX_BYTES)
    assert "Set-Cookie" not in response.headers
    if over > 1:
        assert_cut_short(response, body)


@MODES
@pytest.mark.parametrize("size", (200, FORM_MAX_BYTES))
async def test_a_csrf_checked_form_in_pieces_passes_the_check(served, chunked, size):
    token = await read_token(served)
    csrf = csrf_token(served.hub, token)
    cookie = {"Cookie": f"{SESSION_COOKIE}={token}",
              "Content-Type": "application/x-www-form-urlencoded"}
    body = urlencode(padded_form({"csrf": csrf}, size)).encode()
    response = await served.send("/admin/session/end", body, cookie, chunked=chunked)
    assert response.status == 303, response.body[:300]  # signed out: the check passed
    wrong = urlencode(padded_form({"csrf": "0" * len(csrf)}, size)).encode()
    response = await served.send("/admin/session/end", wrong, cookie, chunked=chunked)
    assert response.status == 403
    assert response.json()["error"]["code"] == "csrf_failed"
    over = urlencode(padded_form({"csrf": csrf}, FORM_MAX_BYTES + 1)).encode()
    assert_too_large(await served.send("/admin/session/end", over, cookie, chunked=chunked),
                     FORM_MAX_BYTES)
