"""Building blocks for connector tests: contexts, inbound requests, messages, a webhook route.

Everything here builds what the core would hand a connector, without a running hub.
"""

from __future__ import annotations

import itertools
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import structlog
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from hub.connectors import InboundRequest
from hub.context import LOOPBACK, ConnectorContext
from hub.errors import RequestRejected, SignatureError
from hub.messages import OutboundMessage

if TYPE_CHECKING:
    import aiohttp
    from pydantic import BaseModel

    from hub.connectors import Sink
    from hub.messages import StatusUpdate

#: Where test requests pretend the hub is reachable.
PUBLIC_URL = "https://hub.example.test"

_message_numbers = itertools.count(1)


#: Contexts made by :func:`make_context`; the pytest plugin closes them after each test.
OPEN_CONTEXTS: list[ConnectorContext] = []


def make_context(name: str, *, http: aiohttp.ClientSession | None = None,
                 public_url: str = PUBLIC_URL, data_dir: Path | None = None,
                 settings: BaseModel | None = None) -> ConnectorContext:
    """The context the core would give a connector instance called ``name``. Without ``http``
    its own outbound-guarded session reaches public addresses and local fakes (loopback) only;
    close it with ``await context.close()`` (the pytest plugin does after each test)."""
    context = ConnectorContext(name, http=http, public_url=public_url,
                               data_dir=data_dir or Path("data"),
                               log=structlog.get_logger().bind(connector=name),
                               settings=settings, outbound_allow=LOOPBACK)
    OPEN_CONTEXTS.append(context)
    return context


def outbound_message(channel: str, to: str, **overrides: Any) -> OutboundMessage:
    """A rendered return-approved message for ``to`` on ``channel``, with a fresh message id
    (so that sinks which dedupe by message id send every one)."""
    fields: dict[str, Any] = {
        "message_id": f"ntf_contract_{next(_message_numbers):06d}", "channel": channel,
        "to": to, "subject": "Your return RMA-1001 was approved",
        "text": "Hello Jane, your return RMA-1001 was approved.",
        "html": "<p>Hello Jane, your return RMA-1001 was approved.</p>",
        "from_address": "shop@example.com", "from_name": "Example Shop",
        "metadata": {"return": "RMA-1001", "stage": "approved"},
        "template": "return_approved"}
    return OutboundMessage(**{**fields, **overrides})


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
