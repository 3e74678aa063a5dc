"""The floor: a bare aiohttp relay that does the least any webhook-to-provider hub must do.

Per request it reads the webhook body, makes one POST to the provider process, waits for the
provider's answer and answers 202 (502 if the provider refused). Nothing is verified, stored
or rendered, so its events/s is what this machine, this load generator and this provider
allow at most; the hub's events/s divided by it is the ratio the benchmark reports.

``--mode sendgrid`` posts a minimal valid v3 mail/send body (the fake SendGrid validates and
records it, carrying the return id in ``custom_args`` as the hub's sink does); ``--mode file``
posts the webhook body as is to bench/file_provider.py.

Run: ``python -m bench.floor --upstream URL --mode file|sendgrid [--port 0]``; prints
``floor listening on http://HOST:PORT`` when ready and runs until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio

import aiohttp
import orjson
from aiohttp import web

from bench.serving import serve_until_signalled


def sendgrid_body(webhook_id: str, body: bytes) -> bytes:
    """A minimal mail/send body for one webhook, keyed like the hub's SendGrid sink."""
    event = orjson.loads(body)
    return orjson.dumps({
        "personalizations": [{"to": [{"email": event["customer"]["email"]}]}],
        "from": {"email": "returns@bench.example"},
        "subject": f"Your return {event['return_id']}",
        "content": [{"type": "text/plain", "value": f"Return {event['return_id']} approved."}],
        "custom_args": {"returnhub_message_id": webhook_id, "return": event["return_id"]},
    })


class Relay:
    """The relay application and its one client session."""

    def __init__(self, upstream: str, mode: str, api_key: str) -> None:
        self.mode = mode
        self.url = (f"{upstream.rstrip('/')}/v3/mail/send" if mode == "sendgrid"
                    else f"{upstream.rstrip('/')}/outbox")
        self.headers = ({"Authorization": f"Bearer {api_key}", "Accept": "application/json",
                         "Content-Type": "application/json"} if mode == "sendgrid"
                        else {"Content-Type": "application/json"})
        self.session: aiohttp.ClientSession | None = None

    async def handle(self, request: web.Request) -> web.Response:
        """Relay one webhook and answer after the provider did."""
        body = await request.read()
        webhook_id = request.headers.get("webhook-id", "")
        if self.mode == "sendgrid":
            data, headers = sendgrid_body(webhook_id, body), self.headers
        else:
            data, headers = body, {**self.headers, "X-Request-Id": webhook_id}
        async with self.session.post(self.url, data=data, headers=headers) as answer:
            await answer.read()
            status = answer.status
        return web.Response(status=202 if status in (200, 202) else 502)


async def main(args: argparse.Namespace) -> None:
    """Serve until SIGTERM or SIGINT."""
    relay = Relay(args.upstream, args.mode, args.api_key)
    relay.session = aiohttp.ClientSession()
    app = web.Application()
    app.router.add_post("/webhooks/{source}", relay.handle)
    try:
        await serve_until_signalled(app, args.host, args.port, "floor")
    finally:
        await relay.session.close()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--upstream", required=True, help="the provider's base URL")
    parser.add_argument("--mode", choices=("file", "sendgrid"), required=True)
    parser.add_argument("--api-key", default="SG.bench-key", help="SendGrid bearer key")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
