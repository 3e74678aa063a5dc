"""A fake Twilio Programmable Messaging API (2010-04-01) and webhook sender.

``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` takes HTTP Basic auth and a
form-encoded body and answers 201 with the Message resource (``sid`` ``SM…``, string
``num_segments``, ``price: null``), or Twilio's error JSON ``{code, message, more_info, status}``.
Twilio's test numbers behave as documented (From ``+15005550001`` → 21212, ``+15005550007`` →
21606; To ``+15005550001`` → 21211, ``+15005550002`` → 21612, ``+15005550003`` → 21408,
``+15005550004`` → 21610, ``+15005550009`` → 21614), numbers that texted STOP get 21610, and
:meth:`FakeTwilio.send_status` / :meth:`FakeTwilio.send_inbound` post callbacks signed with
``X-Twilio-Signature`` the way Twilio does (HMAC-SHA1 of URL + sorted params, auth token key).
``GET …/Messages.json`` lists, filters and pages like Twilio (:mod:`hub.testing.twilio_list`);
``GET …/Messages/{Sid}.json`` fetches one. Both answer 503 while
:meth:`~hub.testing.fakes_common.FakeProvider.set_lookups_down` is on.

Run it as a process with ``python -m hub.testing.fake_twilio --port 0``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlencode

import orjson
from aiohttp import web

from hub.testing.fakes_common import FakeProvider, base_argument_parser, run_fake
from hub.testing.twilio_list import ListError, list_page

if TYPE_CHECKING:
    from collections.abc import Callable

#: Header carrying the webhook signature.
SIGNATURE_HEADER = "X-Twilio-Signature"
API_VERSION = "2010-04-01"
OPT_OUT_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
OPT_IN_WORDS = frozenset({"START", "YES", "UNSTOP"})
_E164 = re.compile(r"^\+[1-9]\d{1,14}$")
#: Twilio's magic test numbers: (error code, HTTP status, message template).
_MAGIC_FROM = {
    "+15005550001": (21212, "The 'From' number {from_} is not a valid phone number, shortcode, "
                            "or alphanumeric sender ID."),
    "+15005550007": (21606, "The From phone number {from_} is not a valid, SMS-capable inbound "
                            "phone number or short code for your account."),
    "+15005550008": (21611, "This 'From' number has exceeded the maximum number of queued "
                            "messages"),
}
_MAGIC_TO = {
    "+15005550001": (21211, "The 'To' number {to} is not a valid phone number."),
    "+15005550002": (21612, "The 'To' phone number: {to}, is not currently reachable using the "
                            "'From' phone number: {from_} via SMS."),
    "+15005550003": (21408, "Permission to send an SMS has not been enabled for the region "
                            "indicated by the 'To' number: {to}."),
    "+15005550004": (21610, "Attempt to send to unsubscribed recipient"),
    "+15005550009": (21614, "'To' number is not a valid mobile number"),
}
_GSM7 = ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
         "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
_GSM7_EXTENDED = "^{}\\[~]|€\f"


def twilio_signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    """X-Twilio-Signature: base64 HMAC-SHA1 (key: auth token) of URL + sorted name/value pairs."""
    signed = url + "".join(name + params[name] for name in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
                            ).decode()


def num_segments(body: str) -> int:
    """How many SMS segments Twilio bills ``body`` as (GSM-7 160/153, else UCS-2 70/67)."""
    if all(ch in _GSM7 or ch in _GSM7_EXTENDED for ch in body):
        units, single, multi = sum(2 if ch in _GSM7_EXTENDED else 1 for ch in body), 160, 153
    else:
        units = len(body.encode("utf-16-le")) // 2
        single, multi = 70, 67
    if units <= single:
        return 1
    return -(-units // multi)


def _rfc2822_now() -> str:
    return format_datetime(datetime.now(UTC), usegmt=True)


class FakeTwilio(FakeProvider):
    """A local Twilio Messages API with status callbacks and inbound messages.

    :param account_sid: the account the fake serves (``AC`` + 32 hex).
    :param auth_token: its auth token; also the webhook signing key.
    :param api_keys: extra ``{SK…: secret}`` pairs accepted for Basic auth.
    """

    provider: ClassVar[str] = "twilio"

    def __init__(self, *, account_sid: str = "AC" + "0" * 32,
                 auth_token: str = "fake-token",  # noqa: S107 - the fake's published test token
                 api_keys: dict[str, str] | None = None, queue_seconds: float = 0.0,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.account_sid = account_sid
        #: Seconds an accepted message stays queued (no ``date_sent``) before it is sent.
        self.queue_seconds = queue_seconds
        self.auth_token = auth_token
        self.api_keys = api_keys or {}
        #: Numbers that texted STOP; sends to them fail with 21610 until they text START.
        self.opted_out: set[str] = set()
        self._by_sid: dict[str, dict[str, Any]] = {}
        #: Every accepted message's resource and when it is sent, oldest first.
        self._sent: list[dict[str, Any]] = []
        #: Those still queued (their ``date_sent`` is set once the clock reaches it).
        self._queued: list[dict[str, Any]] = []
        #: List pages served, and how many of them were not a first page.
        self.list_pages = 0
        self.later_list_pages = 0
        #: When an accepted message counts as sent (its ``date_sent``); tests may replace it.
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def add_routes(self, app: web.Application) -> None:
        """Messages create and fetch under ``/2010-04-01/Accounts/{AccountSid}``."""
        base = f"/{API_VERSION}/Accounts/{{account}}"
        app.router.add_post(f"{base}/Messages.json", self._create)
        app.router.add_get(f"{base}/Messages.json", self._list)
        app.router.add_get(f"{base}/Messages/{{sid}}.json", self._fetch)

    def error(self, status: int, code: int, message: str) -> web.Response:
        """Twilio's 2010 API error body."""
        return web.Response(status=status, content_type="application/json", body=orjson.dumps({
            "code": code, "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}))

    def error_response(self, status: int) -> web.Response:
        """Twilio's error body for an injected status (20003 for 401, 20500 for 5xx)."""
        if status == 401:
            return self._auth_error()
        code = 20500 if status >= 500 else 21000 + status
        return self.error(status, code, "Internal Server Error" if status >= 500 else "Error")

    def rate_limit_response(self, retry_after: float) -> web.Response:
        """429 / 20429 with Retry-After and the concurrency header."""
        response = self.error(429, 20429, "Too Many Requests")
        response.headers["Retry-After"] = str(max(1, round(retry_after)))
        response.headers["Twilio-Concurrent-Requests"] = "101"
        return response

    def _auth_error(self) -> web.Response:
        return self.error(401, 20003, "Authenticate")

    def _authenticated(self, request: web.Request) -> bool:
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            login, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        expected = self.auth_token if login == self.account_sid else self.api_keys.get(login)
        return expected is not None and hmac.compare_digest(password.encode(), expected.encode())

    async def _create(self, request: web.Request) -> web.Response:
        form = await request.post()
        if not self._authenticated(request) or request.match_info["account"] != self.account_sid:
            return self._auth_error()
        to = str(form.get("To", ""))
        from_ = str(form.get("From", ""))
        service = str(form.get("MessagingServiceSid", ""))
        body = str(form.get("Body", ""))
        media = form.getall("MediaUrl", [])
        failure = self._refusal(to, from_, service, body, bool(media or form.get("ContentSid")))
        if failure is not None:
            code, message = failure
            return self.error(400, code, message.format(to=to, from_=from_))
        sid = "SM" + secrets.token_hex(16)
        now = _rfc2822_now()
        resource = {
            "sid": sid, "account_sid": self.account_sid,
            "messaging_service_sid": service or None, "from": from_ or None, "to": to,
            "body": body, "status": "accepted" if service else "queued",
            "direction": "outbound-api",
            "num_segments": "0" if service else str(num_segments(body)),
            "num_media": str(len(media)), "price": None, "price_unit": "USD",
            "error_code": None, "error_message": None, "date_created": now,
            "date_updated": now, "date_sent": None, "api_version": API_VERSION,
            "uri": f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}.json",
            "subresource_uris": {"media": f"/{API_VERSION}/Accounts/{self.account_sid}"
                                          f"/Messages/{sid}/Media.json"},
        }
        entry = self.record({"provider": self.provider, "sid": sid, "resource": resource,
                             "request": {k: str(v) for k, v in form.items()}})
        self._by_sid[sid] = entry
        answer = orjson.dumps(resource)
        # The create answer says queued with no date_sent, as Twilio's does; the message is
        # sent queue_seconds later (at once by default), and from then on the list and a fetch
        # show its date_sent.
        sent = (self.clock() + timedelta(seconds=self.queue_seconds)).astimezone(UTC)
        message = {"resource": resource, "sent": sent.replace(microsecond=0)}
        self._sent.append(message)
        self._queued.append(message)
        self._send_due()
        return web.Response(status=201, body=answer, content_type="application/json")

    def _send_due(self) -> None:
        """Give every queued message whose time has come its ``date_sent``."""
        now = self.clock()
        due = [message for message in self._queued if message["sent"] <= now]
        for message in due:
            message["resource"]["date_sent"] = format_datetime(message["sent"], usegmt=True)
        self._queued = [message for message in self._queued if message["sent"] > now]

    def _refusal(self, to: str, from_: str, service: str, body: str,
                 has_media: bool) -> tuple[int, str] | None:
        if not to:
            return 21604, "A 'To' phone number is required."
        if not from_ and not service:
            return 21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a " \
                          "message."
        if not body and not has_media:
            return 21602, "Message body is required."
        if len(body) > 1600:
            return 21617, "The concatenated message body exceeds the 1600 character limit."
        if from_ in _MAGIC_FROM:
            return _MAGIC_FROM[from_]
        if from_ and not (_E164.match(from_) or from_.replace(" ", "").isalnum()):
            return 21212, _MAGIC_FROM["+15005550001"][1]
        address = to.split(":", 1)[1] if to.startswith(("whatsapp:", "messenger:")) else to
        if address in _MAGIC_TO:
            return _MAGIC_TO[address]
        if not _E164.match(address) or address == from_:
            return 21211, _MAGIC_TO["+15005550001"][1]
        if address in self.opted_out:
            return 21610, "Attempt to send to unsubscribed recipient"
        return None

    async def _list(self, request: web.Request) -> web.Response:
        """Messages, newest first, filtered and paged like Twilio's list (see twilio_list)."""
        if not self._authenticated(request) or request.match_info["account"] != self.account_sid:
            return self._auth_error()
        refusal = self.lookup_refusal()
        if refusal is not None:
            return refusal
        self._send_due()
        try:
            page = list_page(self._sent, request.query,
                             f"/{API_VERSION}/Accounts/{self.account_sid}/Messages.json")
        except ListError as exc:
            return self.error(400, 20001, str(exc))
        self.list_pages += 1
        self.later_list_pages += page["page"] > 0 or bool(request.query.get("PageToken"))
        return web.Response(content_type="application/json", body=orjson.dumps(page))

    def stats(self) -> dict[str, int]:
        """The common counters plus the list pages served (and the later ones among them)."""
        return {**super().stats(), "list_pages": self.list_pages,
                "later_list_pages": self.later_list_pages}

    async def _fetch(self, request: web.Request) -> web.Response:
        if not self._authenticated(request) or request.match_info["account"] != self.account_sid:
            return self._auth_error()
        refusal = self.lookup_refusal()
        if refusal is not None:
            return refusal
        self._send_due()
        entry = self._by_sid.get(request.match_info["sid"])
        if entry is None:
            return self.error(404, 20404, f"The requested resource {request.path} was not found")
        return web.Response(body=orjson.dumps(entry["resource"]), content_type="application/json")

    # -- webhooks -----------------------------------------------------------------------------

    def sign(self, url: str, params: dict[str, str]) -> str:
        """The X-Twilio-Signature Twilio would send for ``params`` posted to ``url``."""
        return twilio_signature(self.auth_token, url, params)

    async def send_form(self, url: str, params: dict[str, str], *, signed: bool = True,
                        idempotency_token: str | None = None) -> int:
        """POST ``params`` to ``url`` as Twilio does; returns the answer's status."""
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "User-Agent": "TwilioProxy/1.1",
                   "I-Twilio-Idempotency-Token": idempotency_token or str(uuid.uuid4())}
        if signed:
            headers[SIGNATURE_HEADER] = self.sign(url, params)
        status, _ = await self.post_webhook(url, data=urlencode(params).encode(),
                                            headers=headers)
        return status

    def status_params(self, record: dict[str, Any], status: str,
                      error_code: int | str | None = None) -> dict[str, str]:
        """The form fields of a status callback for an accepted message."""
        resource = record["resource"]
        resource["status"] = status
        params = {"MessageSid": resource["sid"], "SmsSid": resource["sid"],
                  "SmsStatus": status, "MessageStatus": status,
                  "AccountSid": self.account_sid, "To": resource["to"],
                  "ApiVersion": API_VERSION}
        if resource["from"]:
            params["From"] = resource["from"]
        if resource["messaging_service_sid"]:
            params["MessagingServiceSid"] = resource["messaging_service_sid"]
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
            resource["error_code"] = int(error_code)
        return params

    async def send_status(self, url: str | None, record: dict[str, Any], status: str,
                          error_code: int | str | None = None) -> int:
        """Post a status callback (to the message's StatusCallback when ``url`` is None)."""
        target = url or record["request"].get("StatusCallback")
        if not target:
            raise ValueError("the message has no StatusCallback; pass url")
        return await self.send_form(target, self.status_params(record, status, error_code))

    async def send_inbound(self, url: str, from_: str, body: str, *, to: str = "+15005550006",
                           opt_out_type: str | None = None) -> int:
        """Post an inbound message webhook; STOP/START words update :attr:`opted_out`."""
        word = body.strip().upper()
        if word in OPT_OUT_WORDS:
            self.opted_out.add(from_)
        elif word in OPT_IN_WORDS:
            self.opted_out.discard(from_)
        sid = "SM" + secrets.token_hex(16)
        params = {"MessageSid": sid, "SmsSid": sid, "SmsMessageSid": sid,
                  "AccountSid": self.account_sid, "From": from_, "To": to, "Body": body,
                  "NumMedia": "0", "NumSegments": "1", "SmsStatus": "received",
                  "ApiVersion": API_VERSION}
        if opt_out_type:
            params["OptOutType"] = opt_out_type
        return await self.send_form(url, params)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry: run a FakeTwilio until interrupted."""
    parser = base_argument_parser("A fake Twilio Programmable Messaging API.")
    parser.add_argument("--account-sid", default="AC" + "0" * 32)
    parser.add_argument("--auth-token", default="fake-token")
    parser.add_argument("--queue-seconds", type=float, default=0.0,
                        help="seconds an accepted message stays queued (no date_sent)")
    args = parser.parse_args(argv)
    fake = FakeTwilio(account_sid=args.account_sid, auth_token=args.auth_token,
                      queue_seconds=args.queue_seconds, host=args.host, port=args.port,
                      record_path=args.record)
    run_fake(fake, latency=args.latency)


if __name__ == "__main__":
    main()
