"""A bare "provider" for the file-sink floor: an aiohttp server that writes each POSTed body
to its own file, as the hub's ``file`` sink writes one file per message.

``POST /outbox`` writes ``<X-Request-Id>.<n>.json`` into the directory and answers 202 (the
sequence number keeps a second delivery of the same id visible as a second file).

Run: ``python -m bench.file_provider --dir DIR [--port 0]``; prints
``file-provider listening on http://HOST:PORT`` when ready and runs until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
from pathlib import Path

from aiohttp import web

from bench.serving import serve_until_signalled


def make_app(directory: Path) -> web.Application:
    """The application writing into ``directory``."""
    sequence = itertools.count()

    async def outbox(request: web.Request) -> web.Response:
        body = await request.read()
        name = request.headers.get("X-Request-Id", "anonymous").replace("/", "_")
        # Written inline on purpose: a bare provider, ~50 us per file on tmpfs.
        (directory / f"{name}.{next(sequence)}.json").write_bytes(body)  # noqa: ASYNC240
        return web.Response(status=202)

    app = web.Application(client_max_size=8 * 1024 * 1024)
    app.router.add_post("/outbox", outbox)
    return app


async def main(args: argparse.Namespace) -> None:
    """Serve until SIGTERM or SIGINT."""
    directory = Path(args.dir)
    directory.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (once, at start-up)
    await serve_until_signalled(make_app(directory), args.host, args.port, "file-provider")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--dir", required=True, help="folder the files are written to")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
