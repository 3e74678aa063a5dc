"""A raw-socket HTTP/1.1 client for tests: bodies sent in pieces, with pauses, as real clients do.

aiohttp's own client (and its test client) writes a body in one go, so the server usually finds
all of it buffered on its first read. Real platforms do not: a body arrives in several TCP
segments, or chunked. :func:`send_request` writes the request over an asyncio stream, the body
split into ``pieces`` with ``pause`` seconds between them, either with a ``Content-Length`` or
with ``Transfer-Encoding: chunked``. It stops writing as soon as the server has answered (a
413 before the whole body was sent) and returns the parsed response. :func:`send_bytes` sends
arbitrary bytes (a malformed request line or header) and returns whatever came back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from multidict import CIMultiDict

if TYPE_CHECKING:
    from collections.abc import Iterable

#: How long to wait for an answer once the request is sent.
ANSWER_SECONDS = 30.0
#: Errors of a write to a server that already answered and closed the connection.
_CLOSED = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


@dataclass(slots=True)
class RawResponse:
    """A parsed HTTP response."""

    status: int
    headers: CIMultiDict[str]
    body: bytes
    #: How many body bytes were written before the answer came (or all of them).
    sent: int = 0

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


def split(body: bytes, pieces: int) -> list[bytes]:
    """``body`` in ``pieces`` parts of (nearly) equal size; at least one part."""
    pieces = max(1, min(pieces, len(body) or 1))
    size, extra = divmod(len(body), pieces)
    parts, start = [], 0
    for n in range(pieces):
        end = start + size + (1 if n < extra else 0)
        parts.append(body[start:end])
        start = end
    return parts


async def send_request(host: str, port: int, method: str, path: str, body: bytes = b"",
                       headers: dict[str, str] | Iterable[tuple[str, str]] = (), *,
                       chunked: bool = False, pieces: int = 1, pause: float = 0.0,
                       hold_after: int | None = None) -> RawResponse:
    """Send one request on a new connection (``Connection: close``) and read the answer.

    The body goes in ``pieces`` writes ``pause`` seconds apart (each piece one chunk when
    ``chunked``); writing stops early once the response has arrived. With ``hold_after``, once
    that many body bytes are sent the client waits for an answer (up to
    :data:`ANSWER_SECONDS`) before sending more: a server that answers without the rest of the
    body is then seen to, whatever the machine's load (``RawResponse.sent`` tells).
    """
    items = list(headers.items()) if isinstance(headers, dict) else list(headers)
    names = {name.lower() for name, _ in items}
    if "host" not in names:
        items.insert(0, ("Host", f"{host}:{port}"))
    items.append(("Connection", "close"))
    if chunked:
        items.append(("Transfer-Encoding", "chunked"))
    elif "content-length" not in names:
        items.append(("Content-Length", str(len(body))))
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in items)
    reader, writer = await asyncio.open_connection(host, port)
    try:
        answer = asyncio.create_task(read_response(reader))
        sent = 0
        try:
            writer.write(head.encode("latin-1") + b"\r\n")
            await writer.drain()
            for n, part in enumerate(split(body, pieces)):
                if answer.done():
                    break
                if n and pause:
                    await asyncio.sleep(pause)  # the pause is the point: the body is slow
                if answer.done():
                    break
                writer.write(f"{len(part):x}\r\n".encode() + part + b"\r\n" if chunked
                             else part)
                await writer.drain()
                sent += len(part)
                if hold_after is not None and sent >= hold_after:
                    hold_after = None
                    await asyncio.wait({answer}, timeout=ANSWER_SECONDS)
            else:
                if chunked:
                    writer.write(b"0\r\n\r\n")
                    await writer.drain()
        except _CLOSED:
            pass  # the server answered and closed: read what it said
        response = await asyncio.wait_for(answer, ANSWER_SECONDS)
        response.sent = sent
        return response
    finally:
        writer.close()
        with contextlib.suppress(*_CLOSED):
            await writer.wait_closed()


async def send_bytes(host: str, port: int, data: bytes) -> RawResponse | None:
    """Send ``data`` as is and read the answer; None when the server closed without one."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        with contextlib.suppress(*_CLOSED):
            writer.write(data)
            await writer.drain()
        try:
            return await asyncio.wait_for(read_response(reader), ANSWER_SECONDS)
        except (asyncio.IncompleteReadError, *_CLOSED):
            return None
    finally:
        writer.close()
        with contextlib.suppress(*_CLOSED):
            await writer.wait_closed()


async def read_response(reader: asyncio.StreamReader) -> RawResponse:
    """Parse one response: status line, headers, and a Content-Length, chunked or
    read-until-close body."""
    status_line = await reader.readuntil(b"\r\n")
    status = int(status_line.split(b" ", 2)[1])
    headers: CIMultiDict[str] = CIMultiDict()
    while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
        name, _, value = line.decode("latin-1").partition(":")
        headers.add(name.strip(), value.strip())
    if "Content-Length" in headers:
        body = await reader.readexactly(int(headers["Content-Length"]))
    elif headers.get("Transfer-Encoding", "").lower() == "chunked":
        body = b""
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            body += await reader.readexactly(size)
            await reader.readuntil(b"\r\n")
        await reader.readuntil(b"\r\n")
    else:
        body = await reader.read()
    return RawResponse(status=status, headers=headers, body=body)
