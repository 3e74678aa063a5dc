"""A real local webhook receiver for alert notices: it checks each post's Standard Webhooks
signature with the webhooks plugin's own verifier (an implementation apart from the hub's
signer) and keeps the verified bodies; an unsigned or badly signed post gets a 401."""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiohttp import web
from aiohttp.test_utils import TestServer

from returnhub_webhooks.signing import decode_secret, matches

#: The secret the tests configure for the alert webhook.
ALERT_SECRET = "whsec_" + "YWxlcnQtcmVjZWl2ZXItc2VjcmV0LWZvci10ZXN0cw=="


class AlertReceiver:
    """``async with AlertReceiver() as r``: ``r.url``, ``r.notices`` (verified JSON bodies),
    ``r.rejected`` (posts whose signature did not verify), ``r.fail_status`` to refuse."""

    def __init__(self, secret: str = ALERT_SECRET) -> None:
        self.key = decode_secret(secret)
        self.notices: list[dict[str, Any]] = []
        self.ids: list[str] = []
        #: The ``webhook-id`` of every verified post, refused or not.
        self.attempts: list[str] = []
        self.rejected = 0
        self.fail_status = 0
        self.server: TestServer | None = None

    async def _post(self, request: web.Request) -> web.Response:
        body = await request.read()
        msg_id = request.headers.get("webhook-id", "")
        timestamp = request.headers.get("webhook-timestamp", "")
        fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) < 300
        if not (fresh and matches([self.key], msg_id, timestamp, body,
                                  request.headers.get("webhook-signature", ""))):
            self.rejected += 1
            return web.Response(status=401)
        self.attempts.append(msg_id)
        if self.fail_status:
            return web.Response(status=self.fail_status)
        self.notices.append(orjson.loads(body))
        self.ids.append(msg_id)
        return web.Response(status=200)

    def states(self) -> list[str]:
        """The ``alert.state`` of each notice received, in order."""
        return [n["alert"]["state"] for n in self.notices]

    @property
    def url(self) -> str:
        """Where to post."""
        return str(self.server.make_url("/alerts"))

    async def __aenter__(self) -> AlertReceiver:
        app = web.Application()
        app.router.add_post("/alerts", self._post)
        self.server = TestServer(app, host="127.0.0.1", port=0)
        await self.server.start_server()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.server.close()
