"""The fake providers themselves: their validation, their control API and their process entry
(plugin authors and the benchmark rely on them behaving like the real services)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import aiohttp
import aiohttp.test_utils
import pytest
from aiohttp import web

from hub.testing.fake_mandrill import FakeMandrill
from hub.testing.fake_sendgrid import FakeSendGrid, validate_mail
from hub.testing.fake_twilio import FakeTwilio
from returnhub_sendgrid.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    EventWebhookVerifier,
)

ROOT = Path(__file__).resolve().parents[2]
SG_HEADERS = {"Authorization": "Bearer SG.fake-key", "Accept": "application/json"}


def mail(**changes) -> dict:
    """A valid v3 mail/send body with ``changes`` applied (None deletes a key)."""
    body = {"personalizations": [{"to": [{"email": "a@example.com"}]}],
            "from": {"email": "shop@example.com"}, "subject": "Hi",
            "content": [{"type": "text/plain", "value": "t"},
                        {"type": "text/html", "value": "<p>h</p>"}]}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


@pytest.mark.parametrize(("changes", "field"), [
    ({"personalizations": []}, "personalizations"),
    ({"personalizations": [{"to": []}]}, "personalizations.0.to"),
    ({"personalizations": [{"to": [{"email": "a@x.io"}], "cc": [{"email": "A@x.io"}]}]},
     "personalizations.0.cc.0.email"),
    ({"from": None}, "from.email"),
    ({"subject": None}, "subject"),
    ({"content": [{"type": "text/plain", "value": ""}]}, "content.0.value"),
    ({"content": [{"type": "text/html", "value": "h"}, {"type": "text/plain", "value": "t"}]},
     "content"),
    ({"custom_args": "id=1"}, "custom_args"),
    ({"custom_args": {"n": 1}}, None),
    ({"reply_to": {"email": "r@x.io"}, "reply_to_list": [{"email": "r@x.io"}]}, "reply_to"),
])
def test_sendgrid_body_rules(changes, field) -> None:
    status, errors = validate_mail(mail(**changes))
    assert status == 400
    assert field in [e["field"] for e in errors]


def test_sendgrid_subject_may_come_from_every_personalization() -> None:
    body = mail(subject=None, personalizations=[{"to": [{"email": "a@x.io"}], "subject": "s"}])
    assert validate_mail(body) == (202, [])


async def test_sendgrid_headers_and_sandbox() -> None:
    async with FakeSendGrid() as fake, aiohttp.ClientSession() as http:
        url = f"{fake.url}/v3/mail/send"
        async with http.post(url, json=mail(), headers={"Authorization": "Bearer SG.fake-key",
                                                        "Accept": "text/html"}) as answer:
            assert answer.status == 406
        async with http.post(url, json=mail(), headers={"Accept": "application/json"}) as answer:
            assert answer.status == 401
            assert (await answer.json())["errors"][0]["field"] is None
        sandbox = mail(mail_settings={"sandbox_mode": {"enable": True}})
        async with http.post(url, json=sandbox, headers=SG_HEADERS) as answer:
            assert answer.status == 200 and not fake.records
        async with http.post(url, data=b"{not json", headers=SG_HEADERS) as answer:
            assert answer.status == 400


async def test_control_api_sets_faults_and_lists_records() -> None:
    async with FakeSendGrid() as fake, aiohttp.ClientSession() as http:
        control = f"{fake.url}/__fake__"
        async with http.post(f"{control}/faults", json={"fail_next": {"count": 1,
                                                                      "status": 503}}) as r:
            assert r.status == 200
        async with http.post(f"{fake.url}/v3/mail/send", json=mail(), headers=SG_HEADERS) as r:
            assert r.status == 503
        async with http.post(f"{fake.url}/v3/mail/send", json=mail(), headers=SG_HEADERS) as r:
            assert r.status == 202
        async with http.get(f"{control}/records?count_only=1") as r:
            assert await r.json() == {"count": 1}
        async with http.post(f"{control}/faults", json=["nonsense"]) as r:
            assert r.status == 400
        async with http.delete(f"{control}/records") as r:
            assert r.status == 200 and not fake.records


async def test_sendgrid_status_feed_posts_signed_batches_and_retries_refusals() -> None:
    """The status feed (used by the benchmark) reports each accepted message back as a signed
    Event Webhook batch, and posts a refused batch again."""
    received: list[list[dict]] = []
    answers = iter([503])  # the first batch is refused, later ones accepted

    async def receiver(request: web.Request) -> web.Response:
        body = await request.read()
        verifier.verify(signature=request.headers.get(SIGNATURE_HEADER),
                        timestamp=request.headers.get(TIMESTAMP_HEADER), body=body,
                        now=time.time())
        status = next(answers, 200)
        if status == 200:
            received.append(json.loads(body))
        return web.Response(status=status)

    app = web.Application()
    app.router.add_post("/status", receiver)
    async with FakeSendGrid() as fake, aiohttp.ClientSession() as http, \
            aiohttp.test_utils.TestServer(app) as server:
        verifier = EventWebhookVerifier(fake.public_key_b64, tolerance_seconds=60)
        async with http.post(f"{fake.url}/__fake__/status-webhook",
                             json={"url": str(server.make_url("/status")),
                                   "batch_seconds": 0.05}) as r:
            assert r.status == 200
        for n in range(3):
            async with http.post(f"{fake.url}/v3/mail/send", headers=SG_HEADERS,
                                 json=mail(custom_args={"n": str(n)})) as r:
                assert r.status == 202
        for _ in range(100):
            async with http.get(f"{fake.url}/__fake__/status-webhook") as r:
                counts = await r.json()
            if counts["posted"] == 3:
                break
            await asyncio.sleep(0.05)
    assert counts == {"posted": 3, "queued": 0, "refused_batches": 1}
    events = [event for batch in received for event in batch]
    assert sorted(e["n"] for e in events) == ["0", "1", "2"]
    assert {e["event"] for e in events} == {"delivered"}
    assert [r["x_message_id"] for r in fake.records] == [
        e["sg_message_id"].split(".")[0] for e in sorted(events, key=lambda e: e["n"])]


async def test_mandrill_info_ping_and_legacy_errors() -> None:
    async with FakeMandrill(legacy_status=True) as fake, aiohttp.ClientSession() as http:
        base = f"{fake.url}/api/1.0"
        async with http.post(f"{base}/users/ping.json", json={"key": "md-fake-key"}) as r:
            assert await r.json() == "PONG!"
        body = {"key": "md-fake-key", "message": {"to": [{"email": "a@example.com"}],
                                                  "tags": ["_reserved"]}}
        async with http.post(f"{base}/messages/send.json", json=body) as r:
            assert r.status == 500 and (await r.json())["name"] == "ValidationError"
        body["message"]["tags"] = ["ok"]
        async with http.post(f"{base}/messages/send.json", json=body) as r:
            [result] = await r.json()
        async with http.post(f"{base}/messages/info.json",
                             json={"key": "md-fake-key", "id": result["_id"]}) as r:
            assert (await r.json())["email"] == "a@example.com"
        async with http.post(f"{base}/messages/info.json",
                             json={"key": "md-fake-key", "id": "nope"}) as r:
            assert r.status == 500 and (await r.json())["name"] == "Unknown_Message"


async def test_twilio_required_fields_and_fetch() -> None:
    async with FakeTwilio() as fake, aiohttp.ClientSession() as http:
        auth = aiohttp.encode_basic_auth(fake.account_sid, fake.auth_token)
        base = f"{fake.url}/2010-04-01/Accounts/{fake.account_sid}"
        cases = [({"To": "+14155550100", "From": "+15005550006"}, 21602),
                 ({"To": "+14155550100", "Body": "x"}, 21603),
                 ({"From": "+15005550006", "Body": "x"}, 21604),
                 ({"To": "4155550100", "From": "+15005550006", "Body": "x"}, 21211)]
        for form, code in cases:
            async with http.post(f"{base}/Messages.json", data=form,
                                 headers={"Authorization": auth}) as r:
                assert r.status == 400 and (await r.json())["code"] == code
        form = {"To": "+14155550100", "From": "+15005550006", "Body": "x" * 200}
        async with http.post(f"{base}/Messages.json", data=form,
                             headers={"Authorization": auth}) as r:
            created = await r.json()
        assert r.status == 201 and created["num_segments"] == "2" and created["price"] is None
        async with http.get(f"{base}/Messages/{created['sid']}.json",
                            headers={"Authorization": auth}) as r:
            assert (await r.json())["sid"] == created["sid"]
        async with http.get(f"{base}/Messages/SMnope.json", headers={"Authorization": auth}) as r:
            assert r.status == 404 and (await r.json())["code"] == 20404


@pytest.mark.parametrize("module", ["hub.testing.fake_sendgrid", "hub.testing.fake_mandrill",
                                    "hub.testing.fake_twilio"])
async def test_fakes_run_as_their_own_process(module, tmp_path) -> None:
    record = tmp_path / "sent.jsonl"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, "--port", "0", "--record", str(record),
        stdout=asyncio.subprocess.PIPE, cwd=ROOT)
    try:
        announcement = json.loads(await asyncio.wait_for(process.stdout.readline(), 20))
        assert announcement["url"].startswith("http://127.0.0.1:")
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{announcement['url']}/__fake__/records") as r:
                assert (await r.json())["count"] == 0
            if module.endswith("sendgrid"):
                assert announcement["public_key"]
                async with http.post(f"{announcement['url']}/v3/mail/send", json=mail(),
                                     headers=SG_HEADERS) as r:
                    assert r.status == 202
                assert len(record.read_text().splitlines()) == 1
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), 20) == 0
