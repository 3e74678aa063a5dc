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
import secrets
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

#: Headers of the signed Event Webhook.
SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"

#: Messages SendGrid uses for the failures the fake can inject.
_STATUS_MESSAGES = {
    400: "Bad Request",
    401: "The provided authorization grant is invalid, expired, or revoked",
    403: "The from address does not match a verified Sender Identity.",
    413: "Payload Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
_MAX_RECIPIENTS = 1000


def _error(message: str, field: str | None = None, help_: str | None = None) -> dict[str, Any]:
    return {"message": message, "field": field, "help": help_}


def errors_response(status: int, errors: list[dict[str, Any]],
                    headers: dict[str, str] | None = None) -> web.Response:
    """A SendGrid error answer: ``{"errors": [{message, field, help}, ...]}``."""
    return web.Response(status=status, body=orjson.dumps({"errors": errors}),
                        content_type="application/json", headers=headers)


def new_message_id() -> str:
    """A 22-character URL-safe id shaped like SendGrid's ``X-Message-Id``."""
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")


def validate_mail(body: Any, verified_senders: set[str] | None = None
                  ) -> tuple[int, list[dict[str, Any]]]:
    """Check a v3 mail/send body the way SendGrid does; returns (status, errors)."""
    if not isinstance(body, dict):
        return 400, [_error("Bad Request")]
    errors: list[dict[str, Any]] = []
    personalizations = body.get("personalizations")
    seen: set[str] = set()
    if not isinstance(personalizations, list) or not personalizations:
        errors.append(_error("The personalizations field is required and must have at least "
                             "one personalization.", "personalizations"))
        personalizations = []
    elif len(personalizations) > _MAX_RECIPIENTS:
        errors.append(_error("The personalizations field may not contain more than 1000 "
                             "personalizations.", "personalizations"))
    for index, item in enumerate(personalizations):
        path = f"personalizations.{index}"
        if not isinstance(item, dict) or not isinstance(item.get("to"), list) or not item["to"]:
            errors.append(_error("The to array is required for all personalization objects, "
                                 "and must have at least one email object with a valid email "
                                 "address.", f"{path}.to"))
            continue
        for kind in ("to", "cc", "bcc"):
            for position, address in enumerate(item.get(kind) or []):
                email = address.get("email") if isinstance(address, dict) else None
                if not isinstance(email, str) or "@" not in email:
                    errors.append(_error("Does not contain a valid address.",
                                         f"{path}.{kind}.{position}.email"))
                    continue
                if email.lower() in seen:
                    errors.append(_error("Each email address in the personalization block "
                                         "should be unique between to, cc, and bcc.",
                                         f"{path}.{kind}.{position}.email"))
                seen.add(email.lower())
                name = address.get("name")
                if isinstance(name, str) and (";" in name or "," in name):
                    errors.append(_error("The name may not contain ; or ,",
                                         f"{path}.{kind}.{position}.name"))
        for mapping in ("custom_args", "headers", "substitutions"):
            if mapping in item:
                errors.extend(_string_mapping_errors(item[mapping], f"{path}.{mapping}"))
    if len(seen) > _MAX_RECIPIENTS:
        errors.append(_error("The total number of recipients must be no more than 1000.",
                             "personalizations"))
    sender = body.get("from")
    sender_email = sender.get("email") if isinstance(sender, dict) else None
    if not isinstance(sender_email, str) or "@" not in sender_email:
        errors.append(_error("The from object must be provided for every email send. It is an "
                             "object that requires the email parameter, but may also contain "
                             "a name parameter.", "from.email"))
    elif not sender_email.isascii():
        errors.append(_error("Unicode is not supported in the from field.", "from.email"))
    has_template = bool(body.get("template_id"))
    if not has_template and not body.get("subject") and not (
            personalizations and all(isinstance(p, dict) and p.get("subject")
                                     for p in personalizations)):
        errors.append(_error("The subject is required. You can get around this requirement if "
                             "you use a template with a subject defined or if every "
                             "personalization has a subject defined.", "subject"))
    errors.extend(_content_errors(body.get("content"), has_template))
    for mapping in ("custom_args", "headers"):
        if mapping in body:
            errors.extend(_string_mapping_errors(body[mapping], mapping))
    if "reply_to" in body and "reply_to_list" in body:
        errors.append(_error("The reply_to and reply_to_list fields are mutually exclusive.",
                             "reply_to"))
    categories = body.get("categories")
    if categories is not None and (not isinstance(categories, list) or len(categories) > 10
                                   or not all(isinstance(c, str) for c in categories)):
        errors.append(_error("The categories field must be an array of at most 10 strings.",
                             "categories"))
    if errors:
        return 400, errors
    if verified_senders is not None and sender_email.lower() not in verified_senders:
        return 403, [_error(_STATUS_MESSAGES[403], "from",
                            "https://sendgrid.com/docs/for-developers/sending-email/"
                            "sender-identity/")]
    return 202, []


def _content_errors(content: Any, has_template: bool) -> list[dict[str, Any]]:
    if content is None:
        return [] if has_template else [_error(
            "Unless a valid template_id is provided, the content parameter is required. There "
            "must be at least one defined content block. We typically suggest both text/plain "
            "and text/html blocks are included, but only one block is required.", "content")]
    if not isinstance(content, list) or not content:
        return [_error("The content parameter must be an array with at least one item.",
                       "content")]
    errors = []
    types = []
    for index, block in enumerate(content):
        value = block.get("value") if isinstance(block, dict) else None
        if not isinstance(value, str) or not value:
            errors.append(_error("The content value must be a string at least one character "
                                 "in length.", f"content.{index}.value"))
        types.append(block.get("type") if isinstance(block, dict) else None)
    if "text/plain" in types and "text/html" in types and (
            types.index("text/plain") > types.index("text/html")):
        errors.append(_error("If present, text/plain content must be first, followed by "
                             "text/html, followed by any other content.", "content"))
    return errors


def _string_mapping_errors(value: Any, field: str) -> list[dict[str, Any]]:
    if not isinstance(value, dict):
        return [_error(f"Invalid type. Expected: object, given: {type(value).__name__}.", field)]
    if not all(isinstance(v, str) for v in value.values()):
        # What SendGrid really answers for a non-string value: no field, no help.
        return [_error("Bad Request")]
    if field.endswith("custom_args") and len(orjson.dumps(value)) >= 10_000:
        return [_error("The total size of custom arguments must be less than 10000 bytes.",
                       field)]
    return []


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
        return errors_response(status, [_error(_STATUS_MESSAGES.get(status, "error"))])

    def rate_limit_response(self, retry_after: float) -> web.Response:
        """429 with ``X-RateLimit-*`` headers; Reset is a unix time in whole seconds."""
        reset = math.ceil(time.time() + retry_after)
        return errors_response(429, [_error("too many requests")], headers={
            "X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(reset)})

    async def _mail_send(self, request: web.Request) -> web.Response:
        raw = await request.read()
        auth = request.headers.get("Authorization", "")
        scheme, _, key = auth.partition(" ")
        if scheme != "Bearer" or not key.strip():
            return errors_response(401, [_error("authorization required")])
        if self.api_key is not None and key != self.api_key:
            return errors_response(401, [_error(_STATUS_MESSAGES[401])])
        accept = request.headers.get("Accept", "")
        if "application/json" not in accept and "*/*" not in accept:
            return errors_response(406, [_error("Not Acceptable: use Accept: application/json")])
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return errors_response(400, [_error("Bad Request", None, "http://sendgrid.com/docs/"
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
