"""What the email SDKs cost: their blocking clients in a thread pool versus the same request
body posted on one shared aiohttp session.

Each fake provider runs as its own process (as a real provider would be another machine), and
N messages go out each way at the same concurrency. Run:

    .venv/bin/python bench/sink_cost.py [-n 500] [--concurrency 16] [--repeat 3]

The figures and the decision they led to are recorded in docs/sinks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import structlog

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]

from hub.context import LOOPBACK, ConnectorContext  # noqa: E402
from hub.messages import OutboundMessage  # noqa: E402

SENDGRID_KEY = "SG.bench-key"
MANDRILL_KEY = "md-bench-key"


def start_fake(module: str, *args: str) -> tuple[subprocess.Popen[str], str]:
    """Run ``python -m module --port 0 ...``; return the process and the URL it prints."""
    process = subprocess.Popen([sys.executable, "-m", module, "--port", "0", *args],
                               stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert process.stdout is not None
    announcement = json.loads(process.stdout.readline())
    return process, announcement["url"]


def message(index: int) -> OutboundMessage:
    """A typical return notification."""
    return OutboundMessage(
        message_id=f"bench-{index}", channel="email", to=f"customer{index}@example.com",
        subject="Your return RMA-1001 was approved", text="Hello,\n\nyour return was approved.",
        html="<p>Hello,</p><p>your return was approved.</p>", from_address="shop@example.com",
        metadata={"stage": "approved"}, template="return_approved")


async def timed(count: int, concurrency: int, send: Callable[[int], Awaitable[object]]) -> float:
    """Messages per second for ``count`` sends, at most ``concurrency`` in flight."""
    gate = asyncio.Semaphore(concurrency)

    async def one(index: int) -> None:
        async with gate:
            await send(index)

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    return count / (time.perf_counter() - started)


def context(name: str) -> ConnectorContext:
    """A connector context outside a hub: its own guarded session, allowing the local fakes
    (close it after the sink)."""
    return ConnectorContext(name, public_url="http://127.0.0.1:8080", data_dir=ROOT / "data",
                            log=structlog.get_logger(name), outbound_allow=LOOPBACK)


async def sendgrid_figures(url: str, count: int, concurrency: int) -> dict[str, float]:
    """SDK client in a thread pool vs. the sink's aiohttp path, same body."""
    import sendgrid

    from returnhub_sendgrid.config import SendGridSettings
    from returnhub_sendgrid.payload import build_mail
    from returnhub_sendgrid.sink import SendGridSink

    settings = SendGridSettings(api_key=SENDGRID_KEY, base_url=url)
    client = sendgrid.SendGridAPIClient(SENDGRID_KEY, host=url)
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        async def sdk(index: int) -> object:
            body = build_mail(message(index), settings, "bench")
            return await loop.run_in_executor(pool, client.send, body)

        sdk_rate = await timed(count, concurrency, sdk)
    bench_context = context("bench")
    sink = SendGridSink(settings, bench_context)
    await sink.start()
    try:
        async def native(index: int) -> object:
            return await sink.send(message(index))

        aiohttp_rate = await timed(count, concurrency, native)
    finally:
        await sink.close()
        await bench_context.close()
    return {"sdk_thread_pool": sdk_rate, "aiohttp_shared_session": aiohttp_rate}


async def mandrill_figures(url: str, count: int, concurrency: int) -> dict[str, float]:
    """SDK client in a thread pool vs. the sink's aiohttp path, same body."""
    import mailchimp_transactional

    from returnhub_mailchimp.config import MandrillSettings
    from returnhub_mailchimp.payload import build_message
    from returnhub_mailchimp.sink import MandrillSink

    settings = MandrillSettings(api_key=MANDRILL_KEY, base_url=f"{url}/api/1.3")
    client = mailchimp_transactional.Client(MANDRILL_KEY)
    client.api_client.host = settings.base_url
    client.api_client.set_timeout((3, 10))  # requests' (connect, read); the default is 300 s
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        async def sdk(index: int) -> object:
            body = {"message": build_message(message(index), settings, "bench")}
            return await loop.run_in_executor(pool, client.messages.send, body)

        sdk_rate = await timed(count, concurrency, sdk)
    bench_context = context("bench")
    sink = MandrillSink(settings, bench_context)
    await sink.start()
    try:
        async def native(index: int) -> object:
            return await sink.send(message(index))

        aiohttp_rate = await timed(count, concurrency, native)
    finally:
        await sink.close()
        await bench_context.close()
    return {"sdk_thread_pool": sdk_rate, "aiohttp_shared_session": aiohttp_rate}


async def run(count: int, concurrency: int, repeat: int) -> dict[str, dict[str, float]]:
    """Both providers, both ways, each fake in its own process; the best of ``repeat`` runs
    (other load on the machine only ever makes a run slower)."""
    results = {}
    for name, module, args, measure in (
            ("sendgrid", "hub.testing.fake_sendgrid", ["--api-key", SENDGRID_KEY],
             sendgrid_figures),
            ("mailchimp_transactional", "hub.testing.fake_mandrill", ["--api-key", MANDRILL_KEY],
             mandrill_figures)):
        process, url = start_fake(module, *args)
        try:
            await measure(url, min(50, count), concurrency)  # warm-up: imports, first connects
            runs = [await measure(url, count, concurrency) for _ in range(repeat)]
            results[name] = {path: max(r[path] for r in runs) for path in runs[0]}
        finally:
            process.terminate()
            process.wait(timeout=10)
    return results


def main() -> None:
    """Print msgs/s for each provider and path."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--count", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3, help="runs per path; the best counts")
    args = parser.parse_args()
    results = asyncio.run(run(args.count, args.concurrency, args.repeat))
    sys.stdout.write(f"N={args.count} concurrency={args.concurrency} best of {args.repeat}\n")
    for provider, figures in results.items():
        for path, rate in figures.items():
            sys.stdout.write(f"{provider:26} {path:24} {rate:8.0f} msgs/s\n")


if __name__ == "__main__":
    main()
