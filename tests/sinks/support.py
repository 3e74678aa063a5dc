"""Helpers for the sink tests: contexts, inbound requests, a webhook receiver, an SMTP relay."""

from __future__ import annotations

import asyncio
import json
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import structlog
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from multidict import CIMultiDict, CIMultiDictProxy

from hub.connectors import ConnectorContext, InboundRequest
from hub.context import LOOPBACK
from hub.errors import RequestRejected, SignatureError
from hub.messages import OutboundMessage

if TYPE_CHECKING:
    import ssl

    import aiohttp

    from hub.connectors import Sink
    from hub.messages import StatusUpdate

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "sinks"
#: Where test requests pretend the hub is reachable.
PUBLIC_URL = "https://hub.example.test"


def approved_email(to: str, **overrides: Any) -> OutboundMessage:
    """A return-approved email with every field a provider body uses."""
    fields = {"message_id": "ntf_01HZY3", "channel": "email", "to": to,
              "subject": "Your return RMA-1001 was approved", "text": "Hello Jane",
              "html": "<p>Hello Jane</p>", "from_address": "shop@example.com",
              "from_name": "Example Shop", "reply_to": "help@example.com",
              "metadata": {"return": "RMA-1001", "stage": "approved"},
              "template": "return_approved"}
    return OutboundMessage(**{**fields, **overrides})


def load_fixture(name: str) -> Any:
    """A JSON file from tests/fixtures/sinks."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


#: Contexts made by :func:`make_context`, closed after each test (tests/sinks/conftest.py).
OPEN_CONTEXTS: list[ConnectorContext] = []


def make_context(name: str, *, http: aiohttp.ClientSession | None = None,
                 public_url: str = PUBLIC_URL, data_dir: Path | None = None) -> ConnectorContext:
    """The context the core would give a sink instance called ``name``; without ``http`` its
    own guarded session reaches the local fakes (loopback) only."""
    context = ConnectorContext(name, http=http, public_url=public_url,
                               data_dir=data_dir or Path("data"), log=structlog.get_logger(name),
                               outbound_allow=LOOPBACK)
    OPEN_CONTEXTS.append(context)
    return context


def inbound(body: bytes, headers: dict[str, str] | None = None, *, url: str,
            received_at: datetime | None = None, form: dict[str, str] | None = None
            ) -> InboundRequest:
    """A POST as the hub's ingress hands it over (query parsed from ``url``)."""
    parts = urlsplit(url)
    return InboundRequest(
        method="POST", url=url, path=parts.path or "/",
        headers=CIMultiDictProxy(CIMultiDict(headers or {})),
        query=dict(parse_qsl(parts.query, keep_blank_values=True)), body=body,
        received_at=received_at or datetime.now(UTC), remote="127.0.0.1", form=form)


def form_request(params: dict[str, str], headers: dict[str, str] | None = None, *, url: str,
                 received_at: datetime | None = None) -> InboundRequest:
    """A form-encoded POST with its parsed ``form``, as ingress builds it."""
    return inbound(urlencode(params).encode(),
                   {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})},
                   url=url, received_at=received_at, form=dict(params))


def free_port() -> int:
    """A TCP port nothing listens on (right now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class WebhookReceiver:
    """A stand-in for the hub's ``/webhooks/{name}`` route that feeds one sink.

    It builds the :class:`InboundRequest` the way ingress does (public URL + path and query,
    parsed form), calls ``verify_status`` then ``parse_status`` and answers 200, 401 or 4xx.
    Create it before the sink so the sink's ``public_url`` can be :attr:`url`.
    """

    def __init__(self) -> None:
        self.sink: Sink | None = None
        self.updates: list[StatusUpdate] = []
        self.statuses: list[int] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> WebhookReceiver:
        """Listen on a free port."""
        app = web.Application()
        app.router.add_post("/webhooks/{name}", self._handle)
        app.router.add_head("/webhooks/{name}", self._head)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def close(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()

    def webhook_url(self, name: str) -> str:
        """The status webhook URL of sink ``name``."""
        return f"{self.url}/webhooks/{name}"

    async def _head(self, _request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def _handle(self, request: web.Request) -> web.Response:
        assert self.sink is not None, "set receiver.sink first"
        body = await request.read()
        form = (dict(parse_qsl(body.decode(), keep_blank_values=True))
                if request.content_type == "application/x-www-form-urlencoded" else None)
        incoming = InboundRequest(
            method="POST", url=self.url + request.path_qs, path=request.path,
            headers=CIMultiDict(request.headers), query=dict(request.query), body=body,
            received_at=datetime.now(UTC), remote=request.remote, form=form)
        try:
            await self.sink.verify_status(incoming)
            self.updates.extend(await self.sink.parse_status(incoming))
            status = 200
        except SignatureError:
            status = 401
        except RequestRejected as exc:
            status = exc.status
        self.statuses.append(status)
        return web.Response(status=status)


class RelayHandler:
    """An aiosmtpd handler: accepts mail, refuses or defers chosen recipients, can stall DATA."""

    def __init__(self) -> None:
        #: Accepted messages: (envelope sender, recipients, raw content).
        self.messages: list[tuple[str, list[str], bytes]] = []
        #: Recipient → reply to RCPT TO (e.g. ``"550 5.1.1 ..."``).
        self.rcpt_replies: dict[str, str] = {}
        #: Reply to MAIL FROM instead of 250, when set.
        self.mail_reply: str | None = None
        #: Reply to DATA instead of 250, when set.
        self.data_reply: str | None = None
        #: Seconds to wait before answering DATA (past the client's timeout: outcome unknown).
        self.data_delay = 0.0

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: N802
        """MAIL FROM: 250 unless :attr:`mail_reply` says otherwise."""
        if self.mail_reply:
            return self.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        """RCPT TO: the reply configured for the address, else 250."""
        if address in self.rcpt_replies:
            return self.rcpt_replies[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        """DATA: record the message and answer 250 (after :attr:`data_delay`)."""
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        if self.data_reply:
            return self.data_reply
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 2.0.0 Ok: queued as FAKE123"


class SmtpRelay:
    """A real SMTP server (aiosmtpd, in its own thread) with optional AUTH and TLS.

    :param credentials: ``(user, password)`` AUTH accepts; None offers no AUTH.
    :param starttls: a server TLS context to offer STARTTLS with (and require it).
    :param implicit_tls: a server TLS context to speak TLS from the first byte.
    """

    def __init__(self, *, credentials: tuple[str, str] | None = None,
                 starttls: ssl.SSLContext | None = None,
                 implicit_tls: ssl.SSLContext | None = None) -> None:
        self.handler = RelayHandler()
        self.port = free_port()
        self.credentials = credentials
        kwargs: dict[str, Any] = {"auth_require_tls": False}
        if credentials is not None:
            kwargs["authenticator"] = self._authenticate
        if starttls is not None:
            kwargs.update(tls_context=starttls, require_starttls=True)
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port,
                                     ssl_context=implicit_tls, server_hostname="relay.test",
                                     **kwargs)

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        assert self.credentials is not None
        user, password = self.credentials
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == user.encode()
              and auth_data.password == password.encode())
        return AuthResult(success=ok, handled=False)

    def start(self) -> SmtpRelay:
        """Start the server thread."""
        self.controller.start()
        return self

    def stop(self) -> None:
        """Stop the server thread."""
        self.controller.stop()
