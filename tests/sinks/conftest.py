"""Fixtures shared by the sink tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from .support import OPEN_CONTEXTS, WebhookReceiver


@pytest.fixture(autouse=True)
async def _close_contexts() -> AsyncIterator[None]:
    """Close the sessions the test's connector contexts opened."""
    yield
    while OPEN_CONTEXTS:
        await OPEN_CONTEXTS.pop().close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A shared session, as the hub gives its connectors."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    """A stand-in for the hub's webhook route; set ``receiver.sink`` before use."""
    server = await WebhookReceiver().start()
    try:
        yield server
    finally:
        await server.close()
