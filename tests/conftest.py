"""Shared fixtures: settings on a temporary data dir, a database per test (SQLite, and
PostgreSQL where the server is reachable; required when CI=true), a started hub and a client."""

from __future__ import annotations

import asyncio
import base64
import fcntl
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pluggy
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import event
from sqlalchemy.ext.asyncio import async_sessionmaker

from hub.config import Settings
from hub.runtime import Hub
from hub.security import generate_fernet_key
from hub.store.engine import make_engine, make_sessionmaker
from hub.store.migrate import upgrade
from hub.web.app import create_app
from returnhub_webhooks.signing import decode_secret, signature

#: The connector-test fixtures (``http``, ``make_context``, ``receiver``), enabled the one-line
#: way a third-party plugin's tests enable them.
pytest_plugins = ["hub.contract.testing.pytest_plugin"]

#: The signing secret of the test source ``shop`` (random, made for the tests).
TEST_SECRET = "whsec_" + base64.b64encode(b"returnhub-tests-signing-key-0001").decode()
PG_ADMIN_DSN = os.environ.get("RETURNHUB_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() == "true"
# A `serve` the tests start runs one process unless the test asks for more (`--processes N`:
# tests/integration/test_serve_processes.py): a multi-process start-up costs a hub's imports
# per core, and the suite starts dozens of hubs on a two-core machine within CI's time.
os.environ.setdefault("RETURNHUB_SERVER__PROCESSES", "1")


def _postgres_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """PostgreSQL tests skip only outside CI; in CI a missing server is a failure."""
    if IN_CI or _postgres_reachable():
        return
    skip = pytest.mark.skip(reason="PostgreSQL is not reachable (required when CI=true)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


async def create_pg_database() -> str:
    """A fresh, empty PostgreSQL database; returns its name."""
    import asyncpg

    name = f"returnhub_test_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return name


async def drop_pg_database(name: str) -> None:
    """Drop a database made by :func:`create_pg_database`."""
    import asyncpg

    connection = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


@asynccontextmanager
async def database_url(backend: str, folder: Path) -> AsyncIterator[str]:
    """A database URL for ``backend``: a SQLite file in ``folder``, or a new PostgreSQL
    database dropped on leaving."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{folder / 'hub.db'}"
        return
    name = await create_pg_database()
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        await drop_pg_database(name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database URL: a SQLite file, or a new PostgreSQL database dropped afterwards."""
    async with database_url(request.param, tmp_path) as url:
        yield url


def make_settings(tmp_path: Path, db_url: str | None = None, **overrides: Any) -> Settings:
    """Settings for a hub with a ``shop`` source, a ``outbox`` file sink and the usual stages."""
    data: dict[str, Any] = {
        "data_dir": str(tmp_path / "data"),
        "database": {"url": db_url or f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}",
                     "sqlite_synchronous": "NORMAL"},
        "security": {"pii_keys": [generate_fernet_key()], "lookup_key": "test-lookup-key",
                     # The fake providers listen on loopback; production allows nothing.
                     "outbound_allow": ["127.0.0.0/8"]},
        "logging": {"format": "json"},
        "worker": {"idle_poll_seconds": 0.05, "lease_seconds": 5, "retry_base_seconds": 0.05,
                   "retry_max_seconds": 0.2},
        "sources": {"shop": {"type": "standard_webhooks", "secret": TEST_SECRET}},
        "sinks": {"outbox": {"type": "file", "directory": str(tmp_path / "outbox")}},
        "channels": {"email": {"providers": ["outbox"]}, "sms": {"providers": ["outbox"]}},
        "notifications": {"stages": {
            "requested": {"channels": ["email"]},
            "approved": {"channels": ["email", "sms"]},
            "label_created": {"channels": ["email"]},
            "received": {"channels": ["email"]},
            "refunded": {"channels": ["email", "sms"]},
            "shipment_exception": {"channels": []},
        }},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return Settings(**data)


def signed_headers(body: bytes, msg_id: str | None = None, *, secret: str = TEST_SECRET,
                   timestamp: int | None = None) -> dict[str, str]:
    """Standard Webhooks headers for ``body``."""
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {"webhook-id": msg_id, "webhook-timestamp": ts,
            "webhook-signature": signature(decode_secret(secret), msg_id, ts, body),
            "content-type": "application/json"}


@asynccontextmanager
async def started_hub(settings: Settings, pm: pluggy.PluginManager | None = None
                      ) -> AsyncIterator[Hub]:
    """A started hub whose workers do not run by themselves (tests call ``hub.drain()``),
    stopped on leaving."""
    instance = Hub.build(settings, pm)
    await instance.start(workers=False)
    instance.build_workers()
    await instance.dispatcher.start()
    try:
        yield instance
    finally:
        await instance.stop()


@asynccontextmanager
async def migrated_store(url: str) -> AsyncIterator[tuple[async_sessionmaker, list[str]]]:
    """Sessions of a migrated database at ``url``, and the SQL of every statement SQLAlchemy
    runs on it (not those run straight on SQLite's connection: hub.store.bulk,
    hub.store.direct_reads); the engine is disposed of on leaving."""
    engine = make_engine(url)
    await upgrade(engine)
    statements: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute",
                 lambda _c, _cur, sql, *_rest: statements.append(sql))
    try:
        yield make_sessionmaker(engine), statements
    finally:
        await engine.dispose()


def claims_only(hub: Hub) -> Hub:
    """Leave every row to the claims, with no in-memory hand-off (hub.store.handoff): for
    tests of the claims themselves (the hand-offs have tests/integration/test_handoff.py)."""
    hub.processor.handoff.capacity = 0
    hub.dispatcher.handoff.capacity = 0
    return hub


@pytest.fixture
def hub_settings(tmp_path: Path, db_url: str) -> Settings:
    """The settings of the ``hub`` fixture: a test module overrides this fixture to run the
    shared ``hub`` and ``client`` on other settings."""
    return make_settings(tmp_path, db_url)


@pytest.fixture
async def hub(hub_settings: Settings) -> AsyncIterator[Hub]:
    """A started hub whose workers do not run by themselves: tests call ``hub.drain()``."""
    async with started_hub(hub_settings) as instance:
        yield instance


@pytest.fixture
async def client(hub: Hub) -> AsyncIterator[TestClient]:
    """An HTTP client for the hub's application."""
    async with TestClient(TestServer(create_app(hub))) as test_client:
        yield test_client


def lock_file_free(path: str) -> bool:
    """Whether another holder could take the SQLite lock file ``path`` right now (probed
    through a file description of its own, dropped again at once)."""
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # closing drops the lock it took
    return True


async def wait_for(predicate: Any, timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll ``predicate`` (sync or async) until truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)
