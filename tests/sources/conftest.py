"""Fixtures shared by the source plugin tests: payload fixtures and HTTP; ``make_context``
comes from the shipped ``hub.contract.testing.pytest_plugin`` (enabled in tests/conftest.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

#: Platform payloads shaped like each platform's documented examples.
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sources"


def load_fixture(relative: str) -> Any:
    """A JSON fixture from tests/fixtures/sources, parsed."""
    return json.loads((FIXTURES / relative).read_text(encoding="utf-8"))


@pytest.fixture
async def http_session() -> AsyncIterator[aiohttp.ClientSession]:
    """A real aiohttp session, like the hub's shared one."""
    async with aiohttp.ClientSession() as session:
        yield session
