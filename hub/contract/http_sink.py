"""A base for sinks that deliver through an HTTP API.

:class:`HttpSink` gives a sink the hub's shared session, connect and read timeouts that hold
(aiohttp's ``timeout=None`` means "no timeout at all", so every request carries one), requests
that never follow redirects, transport failures classified by whether the request left (see
:func:`hub.errors.transport_error`: the outbound guard's refusal is a misconfiguration), and a
provider answer turned into the delivery error its :class:`~hub.contract.http_status.StatusTable`
declares, with an excerpt that carries no recipient and no key. A sink writes only what is its
provider's own: the request and the reading of a successful answer::

    class ChatSink(HttpSink):
        type = "chat"
        channels = frozenset({"chat"})
        status_table = StatusTable(vendor="Chat")

        async def send(self, message):
            answer = await self.request("POST", self.config.url, json={"text": message.text})
            if answer.status != 200:
                raise self.error_for(answer)
            return SendResult(provider_message_id=answer.json()["id"])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import aiohttp
import orjson

from hub.connectors import Sink
from hub.contract.http_status import StatusTable, excerpt, retry_after_from
from hub.errors import transport_error

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from hub.connectors import ConnectorContext, ConnectorSettings
    from hub.errors import DeliveryError

#: Defaults for settings models that declare no timeouts (see ``HttpSinkSettings``).
DEFAULT_CONNECT_SECONDS = 3.0
DEFAULT_READ_SECONDS = 10.0


def client_timeout(settings: Any) -> aiohttp.ClientTimeout:
    """Connect and read (silence) limits from ``connect_timeout_seconds`` and
    ``read_timeout_seconds``; no limit on the whole exchange, so a slow but live answer
    completes."""
    connect = getattr(settings, "connect_timeout_seconds", DEFAULT_CONNECT_SECONDS)
    read = getattr(settings, "read_timeout_seconds", DEFAULT_READ_SECONDS)
    return aiohttp.ClientTimeout(total=None, connect=connect, sock_connect=connect,
                                 sock_read=read)


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """A provider's answer, read to the end."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    content_type: str

    def json(self) -> Any:
        """The body decoded as JSON, or None when it is not JSON."""
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return None

    def text(self) -> str:
        """The body as text (undecodable bytes replaced)."""
        return self.body.decode("utf-8", "replace")


class HttpSink(Sink):
    """A sink on the hub's shared HTTP session; see the module docstring."""

    #: How this provider's HTTP statuses map to delivery errors.
    status_table: ClassVar[StatusTable] = StatusTable(vendor="the provider")

    def __init__(self, config: ConnectorSettings, context: ConnectorContext) -> None:
        super().__init__(config, context)
        self.timeout = client_timeout(config)
        self._session: aiohttp.ClientSession | None = None

    @property
    def vendor(self) -> str:
        """The provider's name for error texts."""
        return self.status_table.vendor

    @property
    def session(self) -> aiohttp.ClientSession:
        """The session to send on; RuntimeError before :meth:`start`."""
        if self._session is None:
            raise RuntimeError(f"sink {self.name!r} was not started")
        return self._session

    async def start(self) -> None:
        """Take the context's session (the hub's shared, outbound-guarded one)."""
        self._session = self.context.http

    async def close(self) -> None:
        """Let go of the session; it is the hub's (or the context's) to close."""
        self._session = None

    def secrets(self) -> tuple[str, ...]:
        """Values never shown in an error (API keys, tokens); masked in every excerpt."""
        return ()

    def excerpt(self, text: str) -> str:
        """``text`` fit for an error: one line, no recipient, no secret, shortened."""
        return excerpt(text, self.secrets())

    async def request(self, method: str, url: str, *, data: bytes | None = None,
                      json: Any = None, headers: Mapping[str, str] | None = None
                      ) -> HttpAnswer:
        """Send one request and read the answer; a transport failure raises the delivery
        error it means (nothing sent: unavailable; maybe sent: unknown; guard: misconfigured).
        """
        body = orjson.dumps(json) if json is not None else data
        sent_headers = dict(headers or {})
        if json is not None:
            sent_headers.setdefault("Content-Type", "application/json")
        try:
            async with self.session.request(method, url, data=body, headers=sent_headers,
                                            timeout=self.timeout, allow_redirects=False
                                            ) as response:
                answer = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise transport_error(self.vendor, self.name, exc) from None
        return HttpAnswer(status=response.status, headers=response.headers, body=answer,
                          content_type=response.content_type)

    def error_for(self, answer: HttpAnswer, *, detail: str | None = None,
                  retry_after: float | None = None, fields: Iterable[str] = ()
                  ) -> DeliveryError:
        """The delivery error a non-2xx ``answer`` means, by :attr:`status_table`.

        ``detail`` defaults to the body (masked and shortened either way); ``retry_after`` to
        the answer's ``Retry-After`` (seconds or HTTP date); ``fields``, the request fields the
        provider blames, are named in a rejection.
        """
        shown = self.excerpt(answer.text()) if detail is None else self.excerpt(detail)
        wait = retry_after if retry_after is not None else retry_after_from(answer.headers)
        error = self.status_table.error_for(self.name, answer.status, detail=shown,
                                            retry_after=wait, fields=fields)
        if error is None:
            raise ValueError(f"answer {answer.status} is not an error")
        return error
