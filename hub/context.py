"""What the core gives a connector instance, and all it gives: :class:`ConnectorContext`.

A plugin gets an HTTP session, a logger, its settings, the hub's public URL, a folder and a
key-value store for its own state. It never gets the database or the PII cipher: what it must
remember goes through :attr:`ConnectorContext.state`, which the core stores (encrypted).

``http`` is never None. Inside a running hub it is the hub's shared session, whose outbound
guard refuses private addresses unless ``security.outbound_allow`` names them. A context made
outside a hub (tests, tools) opens its own guarded session on first use, allowing only
``outbound_allow``; use it as ``async with ConnectorContext(...) as context`` (or ``await
context.close()``) so that session is closed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.logs import get_logger
from hub.netguard import guarded_session, parse_networks
from hub.state import MemoryState

if TYPE_CHECKING:
    from collections.abc import Iterable

    import aiohttp
    import structlog
    from pydantic import BaseModel

    from hub.state import PluginState

#: The addresses a test context may reach with ``outbound_allow=LOOPBACK`` (local fakes).
LOOPBACK = ("127.0.0.0/8", "::1/128")


class ConnectorContext:
    """What the core gives every connector instance.

    :param name: the instance name from config (``sources.<name>`` / ``sinks.<name>``).
    :param http: a session to use; None opens an outbound-guarded one on first use.
    :param public_url: the hub's public base URL, for callback URLs given to providers.
    :param data_dir: a folder the connector may keep files in.
    :param log: a logger; by default one bound to ``connector=<name>``.
    :param settings: the instance's validated settings (its type's ``Config``).
    :param state: the instance's key-value store; by default an in-memory one.
    :param outbound_allow: networks the context's own session may reach besides public
        addresses (only when ``http`` is None), e.g. :data:`LOOPBACK` for local fakes.
    """

    __slots__ = ("_http", "_outbound_allow", "_owns_http", "data_dir", "log", "name",
                 "public_url", "settings", "state")

    def __init__(self, name: str, *, http: aiohttp.ClientSession | None = None,
                 public_url: str = "http://127.0.0.1:8080", data_dir: Path | None = None,
                 log: structlog.typing.FilteringBoundLogger | None = None,
                 settings: BaseModel | None = None, state: PluginState | None = None,
                 outbound_allow: Iterable[str] = ()) -> None:
        self.name = name
        self.public_url = public_url
        self.data_dir = data_dir if data_dir is not None else Path("data") / "connectors" / name
        self.log = log if log is not None else get_logger(f"connector.{name}", connector=name)
        self.settings = settings
        self.state: PluginState = state if state is not None else MemoryState()
        self._http = http
        self._owns_http = False
        self._outbound_allow = tuple(outbound_allow)

    @property
    def http(self) -> aiohttp.ClientSession:
        """The HTTP session for outbound calls (never None; see the module docstring)."""
        if self._http is None or (self._owns_http and self._http.closed):
            self._http = guarded_session(parse_networks(self._outbound_allow))
            self._owns_http = True
        return self._http

    async def close(self) -> None:
        """Close the session this context opened itself (never the hub's shared one)."""
        if self._owns_http and self._http is not None:
            await self._http.close()
            self._http = None
            self._owns_http = False

    async def __aenter__(self) -> ConnectorContext:
        return self

    async def __aexit__(self, *_exc: Any) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"ConnectorContext(name={self.name!r})"
