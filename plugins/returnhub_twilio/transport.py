"""The HTTP client the Twilio SDK's async path runs on.

``AsyncTwilioHttpClient`` hands aiohttp ``timeout=None`` whenever the calling method names no
timeout (``messages.create_async`` never does), and aiohttp reads an explicit None as "no
timeout at all", so a silent Twilio would hold a send forever. It also opens a session of its
own and passes credentials through aiohttp's deprecated ``auth=``. This subclass keeps the SDK's
request building and parsing and replaces only the transport: the hub's shared session (or its
own), connect/read timeouts that hold, a Basic ``Authorization`` header, and a 429 that keeps
its Retry-After.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response

from returnhub_twilio.errors import rate_limited


class TimedAsyncHttpClient(AsyncTwilioHttpClient):
    """An ``AsyncTwilioHttpClient`` with working timeouts on a given session.

    :param session: the aiohttp session to send on (not closed by :meth:`close`).
    :param timeout: applied to every request.
    :param provider: the sink name, for the errors the transport raises itself.
    """

    def __init__(self, session: aiohttp.ClientSession, timeout: aiohttp.ClientTimeout,
                 provider: str) -> None:
        super().__init__(pool_connections=False)
        self.session = session
        self._timeout = timeout
        self._provider = provider

    async def request(self, method: str, url: str, params: dict[str, object] | None = None,
                      data: dict[str, object] | None = None,
                      headers: dict[str, str] | None = None,
                      auth: tuple[str, str] | None = None,
                      timeout: float | None = None,  # noqa: ASYNC109 - the SDK's signature
                      allow_redirects: bool = False) -> Response:
        """Send one request for the SDK; returns the SDK's ``Response``.

        A 429 raises :class:`~hub.errors.RateLimited` here, with the Retry-After the SDK's own
        exception would drop.
        """
        sent_headers: dict[str, Any] = dict(headers or {})
        if auth is not None:
            sent_headers["Authorization"] = aiohttp.encode_basic_auth(auth[0], auth[1])
        request_timeout = (aiohttp.ClientTimeout(total=timeout) if timeout
                           else self._timeout)
        async with self.session.request(method.upper(), url, params=params, data=data,
                                        headers=sent_headers, timeout=request_timeout,
                                        allow_redirects=allow_redirects) as response:
            text = await response.text()
        if response.status == 429:
            raise rate_limited(self._provider, response.headers.get("Retry-After"))
        return Response(response.status, text, response.headers)

    async def close(self) -> None:
        """Nothing to release: the session belongs to whoever passed it in."""
