"""The fakes' "accept then fail" mode: the provider takes and records the message, then the
sender gets a 503 or a reset connection instead of the answer. A test counts duplicates at the
fake, so the fake must store exactly one message per request and say which answers it lost."""

from __future__ import annotations

import aiohttp
import orjson
import pytest

from hub.testing.fake_mandrill import FakeMandrill
from hub.testing.fake_sendgrid import FakeSendGrid

SG_HEADERS = {"Authorization": "Bearer SG.fake-key", "Accept": "application/json"}
MAIL = {"personalizations": [{"to": [{"email": "a@example.com"}]}],
        "from": {"email": "shop@example.com"}, "subject": "Hi",
        "content": [{"type": "text/plain", "value": "t"}]}


def mandrill_body(key: str = "md-fake-key") -> dict:
    return {"key": key, "message": {"to": [{"email": "a@example.com"}], "subject": "Hi",
                                    "text": "t", "from_email": "shop@example.com"}}


async def test_sendgrid_reset_after_accepting_records_once_and_marks_the_record(tmp_path
                                                                                ) -> None:
    record_file = tmp_path / "sg.jsonl"
    async with FakeSendGrid(record_path=record_file) as fake, aiohttp.ClientSession() as http:
        fake.fail_after_accept(count=1, mode="reset")
        with pytest.raises(aiohttp.ClientConnectionError):
            async with http.post(f"{fake.url}/v3/mail/send", json=MAIL, headers=SG_HEADERS):
                pass
        async with http.post(f"{fake.url}/v3/mail/send", json=MAIL, headers=SG_HEADERS) as r:
            assert r.status == 202
    lines = [orjson.loads(line) for line in record_file.read_text().splitlines()]
    assert [line.get("answer_lost") for line in lines] == ["reset", None]
    assert fake.lost_answers == 1


async def test_mandrill_503_after_accepting_is_the_gateway_page() -> None:
    async with FakeMandrill() as fake, aiohttp.ClientSession() as http:
        fake.fail_after_accept(count=1)
        async with http.post(f"{fake.url}/api/1.3/messages/send.json",
                             json=mandrill_body()) as answer:
            assert answer.status == 503 and "nginx" in await answer.text()
        assert len(fake.records) == 1 and fake.records[0]["answer_lost"] == "503"


async def test_a_refused_request_does_not_use_up_the_count() -> None:
    async with FakeMandrill() as fake, aiohttp.ClientSession() as http:
        fake.fail_after_accept(count=1)
        url = f"{fake.url}/api/1.3/messages/send.json"
        async with http.post(url, json=mandrill_body("wrong-key")) as answer:
            assert answer.status == 401  # refused as usual, nothing stored
        async with http.post(url, json=mandrill_body()) as answer:
            assert answer.status == 503  # the next accepted one loses its answer
        async with http.post(url, json=mandrill_body()) as answer:
            assert answer.status == 200
        assert [r.get("answer_lost") for r in fake.records] == ["503", None]


async def test_a_rate_loses_that_share_of_answers_and_every_message_is_stored() -> None:
    async with FakeSendGrid() as fake, aiohttp.ClientSession() as http:
        async with http.post(f"{fake.url}/__fake__/faults", json={
                "fail_after_accept": {"rate": 0.3, "mode": "mixed", "seed": 5}}) as answer:
            assert answer.status == 200
        answered = {"202": 0, "503": 0, "reset": 0}
        for _ in range(60):
            try:
                async with http.post(f"{fake.url}/v3/mail/send", json=MAIL,
                                     headers=SG_HEADERS) as answer:
                    answered[str(answer.status)] += 1
            except aiohttp.ClientConnectionError:
                answered["reset"] += 1
        assert len(fake.records) == 60  # every request was taken, answered or not
        marked = [r.get("answer_lost") for r in fake.records]
        assert marked.count("503") == answered["503"] > 0
        assert marked.count("reset") == answered["reset"] > 0
        assert fake.lost_answers == answered["503"] + answered["reset"]
        assert 5 <= fake.lost_answers <= 35  # about 30 % of 60
        async with http.get(f"{fake.url}/__fake__/records") as answer:
            assert (await answer.json())["lost_answers"] == fake.lost_answers


async def test_control_api_refuses_an_unknown_mode() -> None:
    async with FakeSendGrid() as fake, aiohttp.ClientSession() as http:
        async with http.post(f"{fake.url}/__fake__/faults",
                             json={"fail_after_accept": {"count": 1, "mode": "explode"}}) as r:
            assert r.status == 400
        assert fake.faults.loss_count == 0


async def test_the_shorthand_answers_its_status_and_the_record_names_it() -> None:
    async with FakeMandrill() as fake, aiohttp.ClientSession() as http:
        fake.fail_after_accept_next(1, 500)
        url = f"{fake.url}/api/1.3/messages/send.json"
        async with http.post(url, json=mandrill_body()) as answer:
            assert answer.status == 500
        fake.fail_after_accept(count=1)  # back to the 503 of the full form
        async with http.post(url, json=mandrill_body()) as answer:
            assert answer.status == 503
        assert [r.get("answer_lost") for r in fake.records] == ["500", "503"]
