"""Fixtures for connector tests, as a pytest plugin a plugin's tests enable with one line::

    # conftest.py
    pytest_plugins = ["hub.contract.testing.pytest_plugin"]

It is deliberately not registered through a ``pytest11`` entry point: installing Returnhub
must not change the test runs of unrelated projects.

The suites' async tests need pytest-asyncio in auto mode (``asyncio_mode = "auto"``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest

from hub.context import ConnectorContext

from .support import OPEN_CONTEXTS, PUBLIC_URL, WebhookReceiver
from .support import make_context as _make_context


@pytest.fixture(autouse=True)
async def _close_connector_contexts() -> AsyncIterator[None]:
    """Close the sessions of the contexts the test made with ``make_context``."""
    yield
    while OPEN_CONTEXTS:
        await OPEN_CONTEXTS.pop().close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A shared session, as the hub gives its connectors."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def make_context(tmp_path: Path) -> Callable[..., ConnectorContext]:
    """Build a connector's context as the core does:
    ``make_context(name, http=None, public_url=..., data_dir=<tmp_path>)``."""

    def make(name: str, http: aiohttp.ClientSession | None = None, *,
             public_url: str = PUBLIC_URL, data_dir: Path | None = None) -> ConnectorContext:
        return _make_context(name, http=http, public_url=public_url,
                             data_dir=data_dir or tmp_path)

    return make


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    """A stand-in for the hub's webhook route; set ``receiver.sink`` before use."""
    server = await WebhookReceiver().start()
    try:
        yield server
    finally:
        await server.close()
