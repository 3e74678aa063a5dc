"""The SendGrid personalization batcher without a server: one call per content, the call's
error reaches every recipient, an address is never twice in one request, at most ``limit``
personalizations per call."""

from __future__ import annotations

import asyncio

import pytest

from hub.contract import ProviderUnavailable, SendResult
from returnhub_sendgrid.batch import UNSUBSCRIBE_TAG, PersonalizationBatcher, split


def mail(address: str, body: str = "Offer", link: str | None = None) -> dict:
    text = f"{body}\n{link}" if link else body
    mail = {"from": {"email": "shop@example.com"}, "subject": "Offer",
            "personalizations": [{"to": [{"email": address}]}],
            "content": [{"type": "text/plain", "value": text}],
            "custom_args": {"returnhub_message_id": address}}
    if link:
        mail["headers"] = {"List-Unsubscribe": f"<{link}>",
                           "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    return mail


def test_the_unsubscribe_link_becomes_a_substitution() -> None:
    shared, personal = split(mail("a@example.com", link="https://hub/u/abc.def"))
    assert shared["content"][0]["value"] == f"Offer\n{UNSUBSCRIBE_TAG}"
    assert personal["substitutions"] == {UNSUBSCRIBE_TAG: "https://hub/u/abc.def"}
    assert personal["headers"]["List-Unsubscribe"] == "<https://hub/u/abc.def>"
    assert personal["custom_args"] == {"returnhub_message_id": "a@example.com"}


async def test_batches_by_content_address_and_limit() -> None:
    calls: list[dict] = []

    async def post(body: dict) -> SendResult:
        calls.append(body)
        return SendResult(provider_message_id=f"x{len(calls)}")

    batcher = PersonalizationBatcher(post, window=0.05, limit=3)
    sends = [mail(f"{n}@example.com", link=f"https://hub/u/{n}") for n in (0, 1)]
    sends.append(mail("0@example.com", link="https://hub/u/0b"))  # 0 again: a new request
    sends += [mail(f"{n}@example.com", link=f"https://hub/u/{n}") for n in (2, 3)]
    sends.append(mail("9@example.com", body="Other offer"))  # other content: its own call
    results = await asyncio.gather(*(batcher.send(m) for m in sends))
    batches = sorted([p["to"][0]["email"][0] for p in call["personalizations"]]
                     for call in calls)
    assert batches == [["0", "1"], ["0", "2", "3"], ["9"]]
    assert all(isinstance(r, SendResult) for r in results)


async def test_the_calls_error_reaches_every_recipient() -> None:
    async def post(body: dict) -> SendResult:
        raise ProviderUnavailable("503", provider="sg")

    batcher = PersonalizationBatcher(post, window=0.01)
    results = await asyncio.gather(*(batcher.send(mail(f"{n}@example.com")) for n in range(3)),
                                   return_exceptions=True)
    assert all(isinstance(r, ProviderUnavailable) for r in results)
    with pytest.raises(ProviderUnavailable):
        await batcher.send(mail("x@example.com"))
