"""One ``returnhub serve`` process: the hub, its HTTP server, and a clean stop on a signal.

With ``server.processes`` above 1, :mod:`hub.supervisor` starts several of these on one port
(``SO_REUSEPORT``); each is then a *child*: it dies with its parent, does not migrate (the
parent did) and reports its readiness through a pipe instead of printing the address.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hub.config import Settings

#: prctl(2) option: the signal a process gets when its parent dies.
_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """Have the kernel SIGKILL this process when its parent dies (Linux), even by kill -9,
    so that no orphan keeps the port or keeps sending. Exits at once if the parent is
    already gone (it died before the request was made)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent_pid:
        os._exit(1)


async def prepare_node(settings: Settings) -> None:
    """What a multi-process ``serve`` does once before its children start: build the hub
    (validating plugins, connectors and rules, and making any generated keys), then migrate
    the database. Raises ConfigError / PluginError as ``serve`` would."""
    from hub.runtime import Hub
    from hub.store.migrate import upgrade

    hub = Hub.build(settings)
    try:
        await upgrade(hub.engine)
    finally:
        await hub.engine.dispose()


async def serve_process(settings: Settings, *, ingress: bool, workers: bool,
                        migrate: bool = True, reuse_port: bool = False,
                        ready_fd: int | None = None) -> None:
    """Run one hub until SIGINT or SIGTERM, then stop it cleanly. ``ready_fd``: a pipe to
    write this process's pid to once it listens (a supervised child), instead of printing
    the address."""
    from aiohttp import web

    from hub.heap import settle as settle_heap
    from hub.logs import get_logger
    from hub.runtime import Hub
    from hub.web.app import create_app

    log = get_logger("hub.cli")
    hub = Hub.build(settings)
    await hub.start(workers=workers, ingress=ingress, migrate=migrate)
    runner = None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        if ingress:
            runner = web.AppRunner(create_app(hub), access_log=None, handle_signals=False)
            await runner.setup()
            site = web.TCPSite(runner, settings.server.host, settings.server.port,
                               backlog=1024, reuse_address=True, reuse_port=reuse_port or None)
            await site.start()
            port = runner.addresses[0][1] if runner.addresses else settings.server.port
            log.info("listening", url=f"http://{settings.server.host}:{port}",
                     public_url=hub.public_url, pid=os.getpid())
            if ready_fd is None:
                # One line a script can wait for, whatever the log format.
                print(f"returnhub listening on http://{settings.server.host}:{port}", flush=True)
        settle_heap()  # start-up is over: what it built is never collected again
        if ready_fd is not None:
            os.write(ready_fd, f"{os.getpid()}\n".encode())
            os.close(ready_fd)
        await stop.wait()
    finally:
        log.info("shutting_down")
        if runner is not None:
            await runner.cleanup()
        await hub.stop()


#: Connector settings that are a rate for the whole hub, shared out among its processes.
SHARED_RATES = ("rate_limit_per_second", "rate_limit_burst")


def share_rate_limits(settings: Settings, processes: int) -> None:
    """Give one of ``processes`` serve processes its part of every configured rate limit
    (``[sources.*]`` and ``[sinks.*]`` ``rate_limit_per_second`` and ``rate_limit_burst``):
    the limits an operator writes are for the hub on this host, and the kernel spreads
    webhooks evenly over the processes."""
    if processes <= 1:
        return
    for sections in (settings.sources, settings.sinks):
        for body in sections.values():
            for key in SHARED_RATES:
                if isinstance(body.get(key), int | float) and body[key]:
                    body[key] = body[key] / processes
