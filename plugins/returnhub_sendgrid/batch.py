"""SendGrid's bulk path: promotional messages with the same content, sent at about the same
time, go out in one ``/v3/mail/send`` call with one personalization per recipient.

Each message still has its own ``send`` call and its own answer (the batch's result or error),
so the hub counts, retries and records every recipient as before. Per recipient, the
personalization carries the recipient, the ``custom_args`` with the hub's message id (SendGrid
echoes them in each recipient's events) and the one-click unsubscribe headers; the recipient's
unsubscribe link in the body becomes a substitution tag, so messages that differ only in it
share a batch. Messages that differ in anything else simply go in different batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from hub.contract import SendResult

#: SendGrid's limit: at most 1,000 personalizations (and recipients) per request.
MAX_PERSONALIZATIONS = 1000
#: Where a recipient's unsubscribe link stands in the shared body.
UNSUBSCRIBE_TAG = "-returnhub_unsubscribe_url-"
_LINK = re.compile(r"<(https?://[^>]+)>")


@dataclass
class _Batch:
    shared: dict[str, Any]
    items: list[tuple[dict[str, Any], asyncio.Future]] = field(default_factory=list)
    addresses: set[str] = field(default_factory=set)
    timer: asyncio.TimerHandle | None = None


def split(mail: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(what every recipient shares, this recipient's personalization) of one message's body."""
    shared = {k: v for k, v in mail.items()
              if k not in ("personalizations", "custom_args", "headers")}
    personalization: dict[str, Any] = {"to": mail["personalizations"][0]["to"],
                                       "custom_args": mail.get("custom_args", {})}
    headers = mail.get("headers") or {}
    if headers:
        personalization["headers"] = headers
        found = _LINK.search(headers.get("List-Unsubscribe", ""))
        link = found.group(1) if found else None
        if link and any(link in part["value"] for part in shared.get("content", [])):
            shared["content"] = [{**part, "value": part["value"].replace(link, UNSUBSCRIBE_TAG)}
                                 for part in shared["content"]]
            personalization["substitutions"] = {UNSUBSCRIBE_TAG: link}
    return shared, personalization


class PersonalizationBatcher:
    """Collects sends for ``window`` seconds per distinct content, then posts each group once."""

    def __init__(self, post: Callable[[dict[str, Any]], Awaitable[SendResult]], *,
                 window: float, limit: int = MAX_PERSONALIZATIONS) -> None:
        self._post = post
        self._window = window
        self._limit = limit
        self._open: dict[bytes, _Batch] = {}
        self._sending: set[asyncio.Task] = set()

    async def send(self, mail: dict[str, Any]) -> SendResult:
        """Send one message's body as part of a batch; the batch's answer is this one's."""
        shared, personalization = split(mail)
        key = orjson.dumps(shared, option=orjson.OPT_SORT_KEYS)
        address = personalization["to"][0]["email"].lower()
        batch = self._open.get(key)
        if batch is not None and address in batch.addresses:  # once per request (SendGrid)
            self._flush(key, batch)
            batch = None
        if batch is None:
            batch = self._open[key] = _Batch(shared)
            batch.timer = asyncio.get_running_loop().call_later(
                self._window, self._flush, key, batch)
        future = asyncio.get_running_loop().create_future()
        batch.items.append((personalization, future))
        batch.addresses.add(address)
        if len(batch.items) >= self._limit:
            self._flush(key, batch)
        return await future

    def _flush(self, key: bytes, batch: _Batch) -> None:
        if self._open.get(key) is batch:
            del self._open[key]
        if batch.timer is not None:
            batch.timer.cancel()
        task = asyncio.create_task(self._send(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: _Batch) -> None:
        body = {**batch.shared, "personalizations": [p for p, _ in batch.items]}
        try:
            result = await self._post(body)
        except Exception as exc:  # every recipient of the call gets the call's error
            for _, future in batch.items:
                if not future.done():
                    future.set_exception(exc)
        else:
            for _, future in batch.items:
                if not future.done():
                    future.set_result(result)

    async def close(self) -> None:
        """Send what is still collecting and wait for the calls in flight."""
        for key, batch in list(self._open.items()):
            self._flush(key, batch)
        with contextlib.suppress(Exception):
            await asyncio.gather(*self._sending, return_exceptions=True)
