"""Running one of the benchmark's own aiohttp servers (the floor relay, the file provider)
until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import signal

from aiohttp import web


async def serve_until_signalled(app: web.Application, host: str, port: int, name: str) -> None:
    """Listen on ``host:port`` (0: any free port), print ``<name> listening on <url>`` for the
    runner to read, and serve until SIGINT or SIGTERM."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024, reuse_address=True)
    await site.start()
    print(f"{name} listening on http://{host}:{runner.addresses[0][1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
