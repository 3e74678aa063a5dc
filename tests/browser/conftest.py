"""Browser tests: a real headless Chromium (Debian's, driven by Playwright) against a hub served
on a local port. Without Chromium they skip, except when CI=true, where they fail."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from hub.runtime import Hub
from hub.web.app import create_app
from hub.web.portal import POLL_SECONDS
from tests.conftest import started_hub
from tests.web.conftest import portal_settings

#: The system Chromium (``make test`` installs it with apt-get when missing and root).
CHROMIUM = os.environ.get("RETURNHUB_CHROMIUM", "/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
#: A phone screen.
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2,
         "is_mobile": True, "has_touch": True}


def _unavailable() -> str | None:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return (f"Chromium is not installed at {CHROMIUM} (`make test` installs it as root: "
                "apt-get install chromium)")
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[test]')"
    return None


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """A headless Chromium."""
    reason = _unavailable()
    if reason:
        if IN_CI:
            pytest.fail(f"browser tests need Chromium in CI: {reason}")
        pytest.skip(reason)
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        instance = await playwright.chromium.launch(executable_path=CHROMIUM,
                                                    args=CHROMIUM_ARGS, headless=True)
        try:
            yield instance
        finally:
            await instance.close()


@pytest.fixture
async def phone(browser: Any) -> AsyncIterator[Any]:
    """A page at a phone viewport."""
    context = await browser.new_context(**PHONE)
    page = await context.new_page()
    try:
        yield page
    finally:
        await context.close()


@pytest.fixture
async def served(tmp_path: Path, db_url: str) -> AsyncIterator[tuple[Hub, TestClient, str]]:
    """A hub with the portal channel, served on a local port: (hub, client, base URL).
    Workers are driven by ``hub.drain()``."""
    async with started_hub(portal_settings(tmp_path, db_url)) as hub:
        app = create_app(hub)
        app[POLL_SECONDS] = 0.2
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            yield hub, client, str(client.make_url("")).rstrip("/")


def assert_screenshot(path: Path) -> None:
    """The screenshot exists, is a PNG and has real content (not a blank page)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 20_000, f"{path} is suspiciously small ({len(data)} bytes)"
    copy_to = os.environ.get("RETURNHUB_SCREENSHOTS")
    if copy_to:
        Path(copy_to).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(copy_to) / path.name)
