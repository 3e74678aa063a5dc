"""A fake Mailchimp Transactional (Mandrill) API and webhook sender.

``POST /api/1.0|1.3/messages/send.json`` with the key in the JSON body answers 200 with one
status per recipient (``reject@test.mandrillapp.com`` comes back ``rejected``,
``invalid@localhost`` ``invalid``, addresses in :attr:`FakeMandrill.rejects` ``rejected`` with
their reason). Errors are ``{"status": "error", "code", "name", "message"}`` with today's HTTP
statuses (401 Invalid_Key, 400 ValidationError) or, with ``legacy_status=True``, the pre-2023
500 for everything; an injected 502/503/504 answers with an nginx HTML page, as the real
gateway does. :meth:`FakeMandrill.send_status` posts a signed ``mandrill_events`` form.

Run it as a process with ``python -m hub.testing.fake_mandrill --port 0``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from typing import Any, ClassVar
from urllib.parse import urlencode

import orjson
from aiohttp import web

from hub.testing.fakes_common import FakeProvider, base_argument_parser, run_fake

#: Header carrying the webhook signature.
SIGNATURE_HEADER = "X-Mandrill-Signature"
#: The key Mandrill signs its verification POST with before the real key exists.
TEST_WEBHOOK_KEY = "test-webhook"
#: Mandrill's own test addresses and what they answer.
_TEST_REJECTS = {"reject@test.mandrillapp.com": "test"}
_GATEWAY_PAGE = ("<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
                 "<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
                 "</body>\r\n</html>\r\n")
_REASONS = {502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}
#: (HTTP status today, HTTP status before 2023, code) per error name.
_ERRORS = {
    "Invalid_Key": (401, 500, -1),
    "ValidationError": (400, 500, -2),
    "Unknown_Subaccount": (400, 500, 12),
    "Unknown_Message": (404, 500, -1),
    "PaymentRequired": (402, 500, -1),
    "GeneralError": (500, 500, -1),
    "ServiceUnavailable": (503, 500, -1),
    "Too_Many_Requests": (429, 429, -1),
}


def mandrill_signature(key: str, url: str, params: dict[str, str]) -> str:
    """Mandrill's X-Mandrill-Signature: base64 HMAC-SHA1 of the URL + sorted key/value pairs."""
    signed = url + "".join(name + params[name] for name in sorted(params))
    return base64.b64encode(hmac.new(key.encode(), signed.encode(), hashlib.sha1).digest()
                            ).decode()


def _valid_address(email: str) -> bool:
    local, at, domain = email.rpartition("@")
    return bool(at and local and "." in domain and domain != "localhost")


class FakeMandrill(FakeProvider):
    """A local Mandrill: ``messages/send``, ``messages/info``, ``users/ping`` and webhooks.

    :param api_keys: keys accepted in the body's ``key``.
    :param legacy_status: answer every error with HTTP 500, as Mandrill did before 2023.
    :param subaccounts: subaccount ids that exist (others give Unknown_Subaccount).
    :param webhook_key: the key :meth:`send_status` signs with.
    """

    provider: ClassVar[str] = "mandrill"

    def __init__(self, *, api_keys: set[str] | None = None, legacy_status: bool = False,
                 subaccounts: set[str] | None = None, webhook_key: str = "fake-webhook-key",
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.api_keys = api_keys if api_keys is not None else {"md-fake-key"}
        self.legacy_status = legacy_status
        self.subaccounts = subaccounts or set()
        self.webhook_key = webhook_key
        #: Suppressed addresses (lower case) and the reject_reason they answer with.
        self.rejects: dict[str, str] = dict(_TEST_REJECTS)
        self._by_id: dict[str, dict[str, Any]] = {}

    def add_routes(self, app: web.Application) -> None:
        """The API paths under both ``/api/1.0`` and ``/api/1.3``, with or without ``.json``."""
        for version in ("1.0", "1.3"):
            for suffix in ("", ".json"):
                base = f"/api/{version}"
                app.router.add_post(f"{base}/messages/send{suffix}", self._send)
                app.router.add_post(f"{base}/messages/info{suffix}", self._info)
                app.router.add_post(f"{base}/users/ping{suffix}", self._ping)

    def error(self, name: str, message: str) -> web.Response:
        """Mandrill's error body with the HTTP status of the current (or legacy) API."""
        status, legacy, code = _ERRORS[name]
        return web.Response(
            status=legacy if self.legacy_status else status, content_type="application/json",
            body=orjson.dumps({"status": "error", "code": code, "name": name,
                               "message": message}))

    def error_response(self, status: int) -> web.Response:
        """An nginx HTML page for gateway statuses, Mandrill's JSON error otherwise."""
        if status in _REASONS:
            return web.Response(status=status, content_type="text/html",
                                text=_GATEWAY_PAGE.format(status=status, reason=_REASONS[status]))
        if status == 401:
            return self.error("Invalid_Key", "Invalid API key")
        if status == 400:
            return self.error("ValidationError", "Validation error")
        body = {"status": "error", "code": -1, "name": "GeneralError",
                "message": "An unexpected error occurred processing the request."}
        return web.Response(status=status, body=orjson.dumps(body),
                            content_type="application/json")

    def rate_limit_response(self, retry_after: float) -> web.Response:
        """429 Too_Many_Requests with Retry-After."""
        response = self.error("Too_Many_Requests", "Too many requests")
        response.headers["Retry-After"] = str(max(1, round(retry_after)))
        return response

    async def _authorized(self, request: web.Request) -> tuple[dict[str, Any] | None,
                                                               web.Response | None]:
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return None, self.error("ValidationError", "You must specify a key value")
        if not isinstance(body, dict) or not isinstance(body.get("key"), str):
            return None, self.error("ValidationError", "You must specify a key value")
        if body["key"] not in self.api_keys:
            return None, self.error("Invalid_Key", "Invalid API key")
        return body, None

    async def _ping(self, request: web.Request) -> web.Response:
        _body, failure = await self._authorized(request)
        return failure or web.json_response("PONG!")

    async def _send(self, request: web.Request) -> web.Response:
        body, failure = await self._authorized(request)
        if failure:
            return failure
        message = body.get("message")
        problem = self._message_problem(message)
        if problem:
            return self.error("ValidationError", f"Validation error: {problem}")
        subaccount = message.get("subaccount")
        if subaccount and subaccount not in self.subaccounts:
            return self.error("Unknown_Subaccount",
                              f"No subaccount exists with the id '{subaccount}'")
        queued = bool(body.get("async")) or len(message["to"]) > 10
        results = []
        for recipient in message["to"]:
            email = recipient["email"]
            if not _valid_address(email):
                results.append({"email": email, "status": "invalid", "reject_reason": None,
                                "queued_reason": None})
                continue
            message_id = secrets.token_hex(16)
            reason = self.rejects.get(email.lower())
            if reason is not None:
                status = "rejected"
            elif body.get("send_at"):
                status = "scheduled"
            else:
                status = "queued" if queued else "sent"
            result = {"email": email, "status": status, "_id": message_id,
                      "reject_reason": reason,
                      "queued_reason": "multiple-recipients" if status == "queued" else None}
            results.append(result)
            if status != "rejected":
                entry = self.record({"provider": self.provider, "_id": message_id,
                                     "email": email, "status": status, "request": message,
                                     "path": request.path,
                                     "user_agent": request.headers.get("User-Agent", "")})
                self._by_id[message_id] = entry
        return web.json_response(results)

    @staticmethod
    def _message_problem(message: Any) -> str | None:
        if not isinstance(message, dict):
            return '{"message":"Please enter an array"}'
        to = message.get("to")
        if not isinstance(to, list) or not to:
            return '{"message":{"to":"Please enter an array"}}'
        for recipient in to:
            if not isinstance(recipient, dict) or not isinstance(recipient.get("email"), str):
                return '{"message":{"to":{"email":"Please enter a valid email address"}}}'
            if recipient.get("type", "to") not in ("to", "cc", "bcc"):
                return '{"message":{"to":{"type":"Please enter one of to, cc, bcc"}}}'
        tags = message.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            return '{"message":{"tags":"Please enter an array of strings"}}'
        for tag in tags:
            if len(tag) > 50 or tag.startswith("_"):
                return '{"message":{"tags":"Tags may be at most 50 characters and may not ' \
                       'start with an underscore"}}'
        for mapping in ("metadata", "headers"):
            if mapping in message and not isinstance(message[mapping], dict):
                return f'{{"message":{{"{mapping}":"Please enter a struct/associative array"}}}}'
        return None

    async def _info(self, request: web.Request) -> web.Response:
        body, failure = await self._authorized(request)
        if failure:
            return failure
        refusal = self.lookup_refusal()
        if refusal is not None:
            return refusal
        entry = self._by_id.get(str(body.get("id")))
        if entry is None:
            return self.error("Unknown_Message",
                              f"No message exists with the id '{body.get('id')}'")
        message = entry["request"]
        return web.json_response({
            "ts": int(entry["received_at"]), "_id": entry["_id"],
            "sender": message.get("from_email"), "template": None,
            "subject": message.get("subject"), "email": entry["email"],
            "tags": message.get("tags", []), "opens": 0, "clicks": 0, "state": "sent",
            "metadata": message.get("metadata", {}), "smtp_events": []})

    # -- webhooks -----------------------------------------------------------------------------

    def event_for(self, record: dict[str, Any], event: str, **fields: Any) -> dict[str, Any]:
        """One message event (``send``, ``hard_bounce``, ``open``...) about an accepted message."""
        message = record["request"]
        now = int(time.time())
        state = {"hard_bounce": "bounced", "soft_bounce": "soft-bounced", "reject": "rejected",
                 "deferral": "deferred"}.get(event, "sent")
        msg = {"ts": int(record["received_at"]), "_id": record["_id"], "email": record["email"],
               "sender": message.get("from_email"), "subject": message.get("subject"),
               "tags": message.get("tags", []), "metadata": message.get("metadata", {}),
               "state": state, "opens": [], "clicks": [], "smtp_events": [], "_version": "1"}
        if event in ("hard_bounce", "soft_bounce"):
            msg.update(bounce_description="bad_mailbox", bgtools_code=10,
                       diag="smtp;550 5.1.1 The email account does not exist.")
        item = {"event": event, "ts": now, "_id": record["_id"], "msg": msg}
        if event in ("open", "click"):
            item.update(ip="192.0.2.20", user_agent="Mozilla/5.0", location=None)
        if event == "click":
            item["url"] = "https://example.com/"
        item.update(fields)
        return item

    async def send_events(self, url: str, events: list[dict[str, Any]], *,
                          key: str | None = None, signed: bool = True) -> int:
        """POST a ``mandrill_events`` form to ``url``, signed for exactly that URL."""
        params = {"mandrill_events": orjson.dumps(events).decode()}
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "User-Agent": "Mandrill-Webhook/1.0"}
        if signed:
            headers[SIGNATURE_HEADER] = mandrill_signature(key or self.webhook_key, url, params)
        status, _ = await self.post_webhook(url, data=urlencode(params).encode(),
                                            headers=headers)
        return status

    async def send_status(self, url: str, record: dict[str, Any], event: str,
                          **fields: Any) -> int:
        """Tell ``url`` that an accepted message reached ``event``; returns the answer's status."""
        return await self.send_events(url, [self.event_for(record, event, **fields)])

    async def verify_url(self, url: str) -> int:
        """What Mandrill does when a webhook is added: an unsigned HEAD, then (if that fails)
        an empty batch signed with the literal key ``test-webhook``."""
        status, _ = await self.post_webhook(url, data=b"", headers={}, method="HEAD")
        if status == 200:
            return status
        return await self.send_events(url, [], key=TEST_WEBHOOK_KEY)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry: run a FakeMandrill until interrupted."""
    parser = base_argument_parser("A fake Mailchimp Transactional (Mandrill) API.")
    parser.add_argument("--api-key", action="append", default=None,
                        help="an accepted API key (repeatable; default md-fake-key)")
    parser.add_argument("--legacy-status", action="store_true",
                        help="answer every error with HTTP 500 (Mandrill before 2023)")
    parser.add_argument("--webhook-key", default="fake-webhook-key")
    args = parser.parse_args(argv)
    fake = FakeMandrill(api_keys=set(args.api_key) if args.api_key else None,
                        legacy_status=args.legacy_status, webhook_key=args.webhook_key,
                        host=args.host, port=args.port, record_path=args.record)
    run_fake(fake, latency=args.latency)


if __name__ == "__main__":
    main()
