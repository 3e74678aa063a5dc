"""A TCP proxy that can stop passing bytes without closing anything.

A database behind a network that drops packets (a partition, a dead switch, a VM paused by
its host) neither refuses nor resets: every read and write on an open connection just waits,
and a new connection's handshake goes unanswered. Stopping PostgreSQL shows none of that (its
clients get a reset or a refusal at once), so tests put this proxy between the hub and the
database and call :meth:`StallingProxy.stall` and :meth:`StallingProxy.resume`.
"""

from __future__ import annotations

import asyncio
import contextlib

_CHUNK = 65536


class StallingProxy:
    """Forwards connections made to ``127.0.0.1:<port>`` to ``host:port``; while stalled it
    reads nothing, writes nothing and answers no new connection (it holds them, open, until
    :meth:`resume`)."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.target_port = port
        self.port = 0
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._closed = False
        self._server: asyncio.Server | None = None
        self._pumps: set[asyncio.Task] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def stalled(self) -> bool:
        """Whether bytes are held back now."""
        return not self._flowing.is_set()

    async def start(self) -> int:
        """Listen on a free loopback port; returns it."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    def stall(self) -> None:
        """Hold every byte in both directions, and every new connection, from now on."""
        self._flowing.clear()

    def resume(self) -> None:
        """Pass bytes again, those held first."""
        self._flowing.set()

    async def stop(self) -> None:
        """Close the listener and every connection."""
        self._closed = True
        self.resume()
        if self._server is not None:
            self._server.close()
        for pump in list(self._pumps):
            pump.cancel()
        for writer in list(self._writers):
            writer.close()
        await asyncio.gather(*self._pumps, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, client_reader: asyncio.StreamReader,
                      client_writer: asyncio.StreamWriter) -> None:
        self._writers.add(client_writer)
        await self._flowing.wait()  # a stalled network answers no handshake
        if self._closed:  # held until the proxy stopped: nothing to pass on
            client_writer.close()
            return
        try:
            server_reader, server_writer = await asyncio.open_connection(
                self.host, self.target_port)
        except OSError:
            client_writer.close()
            return
        self._writers.add(server_writer)
        for reader, writer in ((client_reader, server_writer), (server_reader, client_writer)):
            pump = asyncio.create_task(self._pump(reader, writer))
            self._pumps.add(pump)
            pump.add_done_callback(self._pumps.discard)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await self._flowing.wait()
                data = await reader.read(_CHUNK)
                if not data:
                    break
                await self._flowing.wait()  # read just before a stall: held until resumed
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()
