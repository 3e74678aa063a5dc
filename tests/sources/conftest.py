"""Fixtures shared by the source plugin tests: payload fixtures, connector contexts, HTTP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog

from hub.connectors import ConnectorContext
from hub.context import LOOPBACK

#: Platform payloads shaped like each platform's documented examples.
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sources"


def load_fixture(relative: str) -> Any:
    """A JSON fixture from tests/fixtures/sources, parsed."""
    return json.loads((FIXTURES / relative).read_text(encoding="utf-8"))


@pytest.fixture
async def make_context(tmp_path: Path) -> AsyncIterator[Callable[..., ConnectorContext]]:
    """Build a ConnectorContext as the core does: ``make_context(name, http=None)``; without
    ``http`` its own guarded session reaches local fakes (loopback) only. Closed after the
    test."""
    made: list[ConnectorContext] = []

    def make(name: str, http: aiohttp.ClientSession | None = None) -> ConnectorContext:
        context = ConnectorContext(name, http=http, public_url="https://hub.example.test",
                                   data_dir=tmp_path,
                                   log=structlog.get_logger().bind(connector=name),
                                   outbound_allow=LOOPBACK)
        made.append(context)
        return context

    yield make
    for context in made:
        await context.close()


@pytest.fixture
async def http_session() -> AsyncIterator[aiohttp.ClientSession]:
    """A real aiohttp session, like the hub's shared one."""
    async with aiohttp.ClientSession() as session:
        yield session
