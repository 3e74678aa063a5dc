"""What every fake provider server shares: start/stop, the record of accepted messages, fault
injection and a command-line entry.

A fake is an aiohttp application on 127.0.0.1 that speaks one provider's wire format. Use it
in-process as an async context manager::

    async with FakeSendGrid() as fake:
        ...  # point the sink at fake.url
        assert len(fake.records) == 1

or as its own process (``python -m hub.testing.fake_sendgrid --port 0 --record out.jsonl``),
which prints one JSON line with its URL and keeps every accepted message as a JSONL line so
another process can count deliveries. Faults can be set in-process (:meth:`fail_next`,
:meth:`rate_limit_next`, :meth:`set_latency`, :meth:`go_silent`, :meth:`fail_after_accept`,
:meth:`set_lookups_down`, and their shorthands :meth:`fail_after_accept_next` and
:meth:`fail_reads`) or over HTTP by posting the same names to ``/__fake__/faults``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Any, ClassVar

import aiohttp
import orjson
from aiohttp import web

from hub.testing.faults import LOSS_MODES, Faults, plan_loss, planned_loss, reset_connection

#: Prefix of the control routes; provider routes never start with it.
CONTROL_PREFIX = "/__fake__"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FakeProvider:
    """Base of :class:`~hub.testing.fake_sendgrid.FakeSendGrid` and its siblings.

    Subclasses add their routes in :meth:`add_routes`, shape errors in :meth:`error_response`
    and :meth:`rate_limit_response`, and call :meth:`record` for every accepted message.
    """

    #: Short name printed by the command-line entry, e.g. ``"sendgrid"``.
    provider: ClassVar[str] = "fake"
    #: Largest request body accepted (aiohttp answers 413 above it).
    max_body_bytes: ClassVar[int] = 32 * 1024 * 1024

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0,
                 record_path: str | Path | None = None) -> None:
        self.host = host
        self.port = port
        self.record_path = Path(record_path) if record_path else None
        #: Every message the fake accepted, oldest first.
        self.records: list[dict[str, Any]] = []
        #: Provider requests seen (accepted, refused or faulted).
        self.request_count = 0
        #: Answers lost after the message was accepted (see :meth:`fail_after_accept`).
        self.lost_answers = 0
        #: Lookups refused while :meth:`set_lookups_down` was on.
        self.lookups_refused = 0
        self.faults = Faults()
        self._loss_rng = random.Random(0)  # noqa: S311 - fault injection, not secrets
        self._runner: web.AppRunner | None = None
        self._record_file: IO[bytes] | None = None
        self._release = asyncio.Event()
        self._client: aiohttp.ClientSession | None = None

    # -- life cycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL of the running fake, e.g. ``http://127.0.0.1:54321``."""
        if self._runner is None:
            raise RuntimeError("the fake is not running; use `async with` or await start()")
        return f"http://{self.host}:{self.port}"

    def build_app(self) -> web.Application:
        """The aiohttp application: provider routes behind the fault middleware, plus control."""
        app = web.Application(middlewares=[self._fault_middleware],
                              client_max_size=self.max_body_bytes)
        self.add_routes(app)
        app.router.add_get(f"{CONTROL_PREFIX}/records", self._control_records)
        app.router.add_delete(f"{CONTROL_PREFIX}/records", self._control_clear)
        app.router.add_post(f"{CONTROL_PREFIX}/faults", self._control_faults)
        app.router.add_get(f"{CONTROL_PREFIX}/stats", self._control_stats)
        return app

    async def start(self) -> FakeProvider:
        """Listen on ``host:port`` (port 0 picks a free one)."""
        self._release = asyncio.Event()
        if self.record_path is not None:
            self.record_path.parent.mkdir(parents=True, exist_ok=True)
            self._record_file = self.record_path.open("ab")
        self._runner = web.AppRunner(self.build_app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=1024)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def close(self) -> None:
        """Stop listening; requests kept waiting by :meth:`go_silent` are dropped."""
        self._release.set()
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._record_file is not None:
            self._record_file.close()
            self._record_file = None

    async def __aenter__(self) -> FakeProvider:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- what subclasses provide --------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        """Add the provider's routes to ``app``."""
        raise NotImplementedError

    def error_response(self, status: int) -> web.Response:
        """The provider's answer for an injected failure with HTTP ``status``."""
        return web.json_response({"error": "injected failure"}, status=status)

    def rate_limit_response(self, retry_after: float) -> web.Response:
        """The provider's 429, with whatever headers it uses to say when to come back."""
        return web.json_response({"error": "too many requests"}, status=429,
                                 headers={"Retry-After": str(max(1, round(retry_after)))})

    def extra_announcement(self) -> dict[str, Any]:
        """Values the command-line entry prints beside the URL (e.g. a public key)."""
        return {}

    # -- records ------------------------------------------------------------------------------

    def record(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Keep an accepted message (in memory, and as a JSONL line when recording to a file).

        When the answer to this request is going to be lost (:meth:`fail_after_accept`), the
        entry says how under ``answer_lost`` (``"reset"`` or the status, e.g. ``"503"``), so that
        whoever counts duplicates can tell which first copies the sender never heard about.
        """
        entry.setdefault("received_at", time.time())
        planned = planned_loss.get()
        if planned is not None:
            planned["recorded"] = True
            entry["answer_lost"] = planned["mode"]
        self.records.append(entry)
        if self._record_file is not None:
            self._record_file.write(orjson.dumps(entry) + b"\n")
            self._record_file.flush()
        return entry

    # -- fault knobs --------------------------------------------------------------------------

    def fail_next(self, count: int = 1, status: int = 500) -> None:
        """Answer the next ``count`` provider requests with ``status`` (the provider's body)."""
        self.faults.fail_count, self.faults.fail_status = count, status

    def rate_limit_next(self, count: int = 1, retry_after: float = 1.0) -> None:
        """Answer the next ``count`` provider requests with the provider's 429."""
        self.faults.rate_limit_count, self.faults.retry_after = count, retry_after

    def set_latency(self, seconds: float) -> None:
        """Wait ``seconds`` before handling each provider request."""
        self.faults.latency = seconds

    def go_silent(self, count: int = -1) -> None:
        """Handle (and record) the next ``count`` requests but never answer them (-1: all).

        A client with a timeout then sees the case where the provider may have taken the
        message but the answer was lost.
        """
        self.faults.silent_count = count

    def fail_after_accept(self, count: int = 0, rate: float = 0.0, mode: str = "503",
                          seed: int | None = None) -> None:
        """Accept and record messages but lose the answer: the next ``count`` accepted requests,
        then a fraction ``rate`` of the others (drawn from a generator seeded with ``seed``).

        ``mode`` is ``"503"`` (the provider's 503 after it took the message), ``"reset"`` (the
        connection is reset before any answer) or ``"mixed"`` (either, at random). A request the
        fake refuses anyway (a 4xx) is answered as usual and does not count.
        """
        if mode not in (*LOSS_MODES, "mixed"):
            raise ValueError(f"mode must be one of {LOSS_MODES} or 'mixed', not {mode!r}")
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        self.faults.loss_count, self.faults.loss_rate = int(count), float(rate)
        self.faults.loss_mode, self.faults.loss_status = mode, 503
        if seed is not None:
            self._loss_rng = random.Random(seed)  # noqa: S311 - fault injection

    def fail_after_accept_next(self, count: int = 1, status: int = 500) -> None:
        """Take the next ``count`` messages but answer them with ``status`` (a shorthand of
        :meth:`fail_after_accept` with mode ``"503"``)."""
        self.fail_after_accept(count=count)
        self.faults.loss_status = status

    def set_lookups_down(self, down: bool = True, status: int = 503) -> None:
        """Make lookups of sent messages (list, fetch, info) answer ``status``, or answer
        again."""
        self.faults.lookups_down, self.faults.lookups_status = bool(down), status

    def fail_reads(self, status: int = 503) -> None:
        """Answer every lookup with ``status`` until the faults are reset (or
        :meth:`set_lookups_down` ``(False)``)."""
        self.set_lookups_down(True, status)

    def lookup_refusal(self) -> web.Response | None:
        """The provider's error while :meth:`set_lookups_down` is on; lookup routes call this."""
        faults = self.faults
        if not faults.lookups_down:
            return None
        self.lookups_refused += 1
        return self.error_response(faults.lookups_status)

    def reset_faults(self) -> None:
        """Back to normal behaviour; requests already kept waiting stay waiting until close."""
        self.faults = Faults()

    # -- webhooks back to the hub -------------------------------------------------------------

    async def http(self) -> aiohttp.ClientSession:
        """The session the fake posts status webhooks with."""
        if self._client is None:
            self._client = aiohttp.ClientSession()
        return self._client

    async def post_webhook(self, url: str, *, data: bytes, headers: dict[str, str],
                           method: str = "POST") -> tuple[int, bytes]:
        """Send one webhook request; returns the receiver's status and body."""
        session = await self.http()
        async with session.request(method, url, data=data, headers=headers) as response:
            return response.status, await response.read()

    # -- internals ----------------------------------------------------------------------------

    @web.middleware
    async def _fault_middleware(self, request: web.Request, handler: Handler
                                ) -> web.StreamResponse:
        if request.path.startswith(CONTROL_PREFIX):
            return await handler(request)
        self.request_count += 1
        faults = self.faults
        if faults.latency:
            await asyncio.sleep(faults.latency)
        if faults.fail_count:
            faults.fail_count -= 1
            await request.read()
            return self.error_response(faults.fail_status)
        if faults.rate_limit_count:
            faults.rate_limit_count -= 1
            await request.read()
            return self.rate_limit_response(faults.retry_after)
        planned = plan_loss(faults, self._loss_rng)
        token = planned_loss.set(planned)
        try:
            response = await handler(request)
        finally:
            planned_loss.reset(token)
        if planned is not None:
            if planned["recorded"] and 200 <= response.status < 300:
                self.lost_answers += 1
                if planned["mode"] == "reset":
                    reset_connection(request)
                    return response  # never reaches the client: the connection is gone
                return self.error_response(faults.loss_status)
            if planned["counted"]:
                faults.loss_count += 1  # nothing was accepted: the next accepted one fails
        if faults.silent_count:
            if faults.silent_count > 0:
                faults.silent_count -= 1
            await self._release.wait()
        return response

    async def _control_records(self, request: web.Request) -> web.Response:
        if request.query.get("count_only"):
            return web.json_response({"count": len(self.records)})
        return web.Response(body=orjson.dumps({"count": len(self.records),
                                               "lost_answers": self.lost_answers,
                                               "records": self.records}),
                            content_type="application/json")

    def stats(self) -> dict[str, int]:
        """The fake's counters (``GET /__fake__/stats``); subclasses add their own."""
        return {"requests": self.request_count, "records": len(self.records),
                "lost_answers": self.lost_answers, "lookups_refused": self.lookups_refused}

    async def _control_stats(self, _request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    async def _control_clear(self, _request: web.Request) -> web.Response:
        self.records.clear()
        return web.json_response({"count": 0})

    async def _control_faults(self, request: web.Request) -> web.Response:
        try:
            wanted = orjson.loads(await request.read())
            if not isinstance(wanted, dict):
                raise ValueError
            if wanted.get("reset"):
                self.reset_faults()
            if "fail_next" in wanted:
                self.fail_next(**wanted["fail_next"])
            if "rate_limit_next" in wanted:
                self.rate_limit_next(**wanted["rate_limit_next"])
            if "latency" in wanted:
                self.set_latency(float(wanted["latency"]))
            if "go_silent" in wanted:
                self.go_silent(int(wanted["go_silent"]))
            if "fail_after_accept" in wanted:
                self.fail_after_accept(**wanted["fail_after_accept"])
            if "lookups_down" in wanted:
                self.set_lookups_down(bool(wanted["lookups_down"]))
            if "fail_after_accept_next" in wanted:
                self.fail_after_accept_next(**wanted["fail_after_accept_next"])
            if "fail_reads" in wanted:
                self.fail_reads(int(wanted["fail_reads"]))
        except (ValueError, TypeError, orjson.JSONDecodeError):
            return web.json_response(
                {"error": "expected an object with reset, fail_next{count,status}, "
                          "rate_limit_next{count,retry_after}, latency, go_silent, "
                          "fail_after_accept{count,rate,mode,seed}, lookups_down, "
                          "fail_after_accept_next{count,status} or fail_reads"},
                status=400)
        return web.json_response({"ok": True})


def base_argument_parser(description: str) -> argparse.ArgumentParser:
    """The options every fake's command line takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free)")
    parser.add_argument("--record", default=None, metavar="PATH",
                        help="append every accepted message to this JSONL file")
    parser.add_argument("--latency", type=float, default=0.0,
                        help="seconds to wait before answering each request")
    return parser


def run_fake(fake: FakeProvider, latency: float = 0.0) -> None:
    """Run ``fake`` until SIGINT/SIGTERM; print one JSON line ``{"provider", "url", ...}``."""

    async def main() -> None:
        await fake.start()
        fake.set_latency(latency)
        announcement = {"provider": fake.provider, "url": fake.url, **fake.extra_announcement()}
        sys.stdout.write(orjson.dumps(announcement).decode() + "\n")
        sys.stdout.flush()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await fake.close()

    asyncio.run(main())
