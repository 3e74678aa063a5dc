"""A fake SendGrid v3 Mail Send API and Event Webhook sender.

It checks what the real service checks (bearer key, ``Accept``, the mail/send body rules listed
in shared/reference/provider-wire-formats.md §1) and answers like it: 202 with an
``X-Message-Id`` header, 200 in sandbox mode, ``{"errors": [...]}`` bodies otherwise. It can send
signed Event Webhook batches back to the hub with an ECDSA P-256 key it owns; configure the hub
with :attr:`FakeSendGrid.public_key_b64`.

Run it as a process with ``python -m hub.testing.fake_sendgrid --port 0``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import math
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import aiohttp
import orjson
from aiohttp import web
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hub.testing.fakes_common import (
    CONTROL_PREFIX,
    FakeProvider,
    base_argument_parser,
    run_fake,
)
from hub.testing.sendgrid_mail import (  # noqa: F401 (validate_mail: re-exported)
    STATUS_MESSAGES,
    error_entry,
    errors_response,
    new_message_id,
    validate_mail,
)

#: Headers of the signed Event Webhook.
SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"

@dataclass(slots=True)
class StatusFeed:
    """Where and how a fake posts status events back, and how that went."""

    url: str
    event: str
    batch_seconds: float
    max_batch: int
    posted: int = 0
    refused: int = 0


class FakeSendGrid(FakeProvider):
    """A local SendGrid: ``POST /v3/mail/send`` plus signed Event Webhook batches.

    :param api_key: the only bearer key accepted; None accepts any non-empty key.
    :param verified_senders: when set, a ``from`` outside it gets SendGrid's 403.
    """

    provider: ClassVar[str] = "sendgrid"

    def __init__(self, *, api_key: str | None = "SG.fake-key",
                 verified_senders: set[str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.api_key = api_key
        self.verified_senders = ({s.lower() for s in verified_senders}
                                 if verified_senders is not None else None)
        self._signing_key = ec.generate_private_key(ec.SECP256R1())
        #: Status events to post back (see :meth:`report_status_to`), oldest first.
        self._status_queue: list[dict[str, Any]] = []
        self._status_target: StatusFeed | None = None
        self._status_task: asyncio.Task | None = None

    @property
    def public_key_b64(self) -> str:
        """The Event Webhook verification key, as SendGrid's settings page shows it."""
        der = self._signing_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return base64.b64encode(der).decode()

    def extra_announcement(self) -> dict[str, Any]:
        """The command line prints the webhook public key beside the URL."""
        return {"public_key": self.public_key_b64}

    def add_routes(self, app: web.Application) -> None:
        """``POST /v3/mail/send``, and the control route that turns on status webhooks."""
        app.router.add_post("/v3/mail/send", self._mail_send)
        app.router.add_post(f"{CONTROL_PREFIX}/status-webhook", self._control_status_webhook)
        app.router.add_get(f"{CONTROL_PREFIX}/status-webhook", self._control_status_count)

    def error_response(self, status: int) -> web.Response:
        """SendGrid's errors array with its usual message for ``status``."""
        return errors_response(status, [error_entry(STATUS_MESSAGES.get(status, "error"))])

    def rate_limit_response(self, retry_after: float) -> web.Response:
        """429 with ``X-RateLimit-*`` headers; Reset is a unix time in whole seconds."""
        reset = math.ceil(time.time() + retry_after)
        return errors_response(429, [error_entry("too many requests")], headers={
            "X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(reset)})

    async def _mail_send(self, request: web.Request) -> web.Response:
        raw = await request.read()
        auth = request.headers.get("Authorization", "")
        scheme, _, key = auth.partition(" ")
        if scheme != "Bearer" or not key.strip():
            return errors_response(401, [error_entry("authorization required")])
        if self.api_key is not None and key != self.api_key:
            return errors_response(401, [error_entry(STATUS_MESSAGES[401])])
        accept = request.headers.get("Accept", "")
        if "application/json" not in accept and "*/*" not in accept:
            return errors_response(
                406, [error_entry("Not Acceptable: use Accept: application/json")])
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return errors_response(400, [error_entry("Bad Request", None, "http://sendgrid.com/docs/"
                                                "API_Reference/Web_API_v3/Mail/errors.html")])
        status, errors = validate_mail(body, self.verified_senders)
        if errors:
            return errors_response(status, errors)
        sandbox = ((body.get("mail_settings") or {}).get("sandbox_mode") or {}).get("enable")
        if sandbox:
            return web.Response(status=200)
        message_id = new_message_id()
        record = self.record({"provider": self.provider, "x_message_id": message_id,
                              "request": body, "user_agent": request.headers.get("User-Agent", "")})
        if self._status_target is not None:
            self._status_queue.extend(self.events_for(record, self._status_target.event))
        return web.Response(status=202, headers={"X-Message-Id": message_id})

    # -- Event Webhook ------------------------------------------------------------------------

    def events_for(self, record: dict[str, Any], event: str, **fields: Any
                   ) -> list[dict[str, Any]]:
        """One Event Webhook event per recipient of an accepted message.

        ``fields`` are added to each event (e.g. ``reason=``, ``url=``); SendGrid's own extras
        for the event type are filled in when not given.
        """
        body = record["request"]
        message_id = record["x_message_id"]
        now = int(time.time())
        categories = body.get("categories")
        events = []
        for index, personalization in enumerate(body["personalizations"]):
            custom_args = {**body.get("custom_args", {}),
                           **personalization.get("custom_args", {})}
            for address in personalization["to"]:
                item: dict[str, Any] = {
                    "email": address["email"],
                    "timestamp": now,
                    "event": event,
                    "sg_event_id": new_message_id() + new_message_id(),
                    "sg_message_id": f"{message_id}.filterdrecv-fake-{index}-{now:X}-0.0",
                    "smtp-id": f"<{message_id}@ismtpd-fake.sendgrid.net>",
                    **custom_args,
                }
                if categories:
                    item["category"] = categories[0] if len(categories) == 1 else categories
                item.update(_EVENT_EXTRAS.get(event, {}))
                item.update(fields)
                events.append(item)
        return events

    # -- status feed: every accepted message reported back, as SendGrid's Event Webhook does --

    def report_status_to(self, url: str, *, event: str = "delivered",
                         batch_seconds: float = 0.5, max_batch: int = 1000) -> None:
        """From now on, post ``event`` for every accepted message to ``url`` in signed batches
        (SendGrid batches its Event Webhook posts). A batch the receiver does not answer with
        2xx is posted again, as SendGrid retries."""
        self._status_target = StatusFeed(url, event, batch_seconds, max_batch)
        if self._status_task is None:
            self._status_task = asyncio.create_task(self._status_loop())

    async def _status_loop(self) -> None:
        while True:
            feed = self._status_target
            await asyncio.sleep(feed.batch_seconds if feed else 0.5)
            while feed is not None and self._status_queue:
                batch = self._status_queue[:feed.max_batch]
                try:
                    status = await self.send_events(feed.url, batch)
                except (OSError, TimeoutError, aiohttp.ClientError):
                    status = 0
                if not 200 <= status < 300:
                    feed.refused += 1
                    break  # the same events again after the next pause
                del self._status_queue[:len(batch)]
                feed.posted += len(batch)

    async def close(self) -> None:
        """Stop the status feed, then the server."""
        if self._status_task is not None:
            self._status_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._status_task
            self._status_task = None
        await super().close()

    async def _control_status_webhook(self, request: web.Request) -> web.Response:
        try:
            wanted = orjson.loads(await request.read())
            self.report_status_to(str(wanted["url"]), event=str(wanted.get("event", "delivered")),
                                  batch_seconds=float(wanted.get("batch_seconds", 0.5)),
                                  max_batch=int(wanted.get("max_batch", 1000)))
        except (KeyError, ValueError, TypeError, orjson.JSONDecodeError):
            return web.json_response({"error": "expected {url, event?, batch_seconds?, "
                                               "max_batch?}"}, status=400)
        return web.json_response({"ok": True})

    async def _control_status_count(self, _request: web.Request) -> web.Response:
        feed = self._status_target
        return web.json_response({"posted": feed.posted if feed else 0,
                                  "queued": len(self._status_queue),
                                  "refused_batches": feed.refused if feed else 0})

    def sign(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        """The two signature headers for ``body`` (ECDSA P-256 over timestamp + body)."""
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        signature = self._signing_key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {SIGNATURE_HEADER: base64.b64encode(signature).decode(), TIMESTAMP_HEADER: stamp}

    async def send_events(self, url: str, events: list[dict[str, Any]], *,
                          timestamp: int | None = None, signed: bool = True) -> int:
        """POST a batch of events to ``url`` as SendGrid does; returns the answer's status."""
        body = orjson.dumps(events) + b"\r\n"
        headers = {"Content-Type": "application/json", "User-Agent": "SendGrid Event API"}
        if signed:
            headers.update(self.sign(body, timestamp))
        status, _ = await self.post_webhook(url, data=body, headers=headers)
        return status

    async def send_status(self, url: str, record: dict[str, Any], event: str,
                          **fields: Any) -> int:
        """Tell ``url`` that an accepted message reached ``event`` (``delivered``, ``bounce``)."""
        return await self.send_events(url, self.events_for(record, event, **fields))


#: What SendGrid adds to each event type, so a test only names what it cares about.
_EVENT_EXTRAS: dict[str, dict[str, Any]] = {
    "delivered": {"response": "250 2.0.0 OK", "ip": "192.0.2.10", "tls": 1},
    "deferred": {"response": "450 4.2.2 mailbox full", "attempt": "1"},
    "bounce": {"reason": "550 5.1.1 The email account that you tried to reach does not exist",
               "status": "5.1.1", "type": "bounce", "bounce_classification": "Invalid Address"},
    "dropped": {"reason": "Bounced Address"},
    "open": {"useragent": "Mozilla/5.0", "ip": "192.0.2.20"},
    "click": {"useragent": "Mozilla/5.0", "ip": "192.0.2.20", "url": "https://example.com/",
              "url_offset": {"index": 0, "type": "html"}},
}


def main(argv: list[str] | None = None) -> None:
    """Command-line entry: run a FakeSendGrid until interrupted."""
    parser = base_argument_parser("A fake SendGrid v3 Mail Send API.")
    parser.add_argument("--api-key", default="SG.fake-key",
                        help="the only bearer key accepted ('' accepts any)")
    args = parser.parse_args(argv)
    fake = FakeSendGrid(api_key=args.api_key or None, host=args.host, port=args.port,
                        record_path=args.record)
    run_fake(fake, latency=args.latency)


if __name__ == "__main__":
    main()
