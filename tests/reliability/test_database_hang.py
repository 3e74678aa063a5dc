"""A database that hangs instead of failing: PostgreSQL behind a network that drops packets
(hub.testing.stall_proxy), SQLite whose write lock another program holds.

Nothing answers and nothing resets, so without limits of its own the hub would hold every
webhook open, and every statement for the kernel's TCP timeout. A webhook is answered 503
once ``server.store_wait_seconds`` have passed; a PostgreSQL statement fails after
``database.statement_timeout_seconds``, as a lost database does, and the pool recovers once
the network does. The platform's retry after the hang is stored once and sent once.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from structlog.testing import capture_logs

from hub.store.engine import make_engine, make_sessionmaker, sqlite_path
from hub.store.failures import is_refusal, may_pass
from hub.store.models import InboxEvent
from hub.testing.factories import customer, event_payload
from hub.testing.stall_proxy import StallingProxy
from hub.web.app import create_app
from tests.conftest import (
    database_url,
    make_settings,
    signed_headers,
    started_hub,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from pathlib import Path

STORE_WAIT = 1.0
STATEMENT_TIMEOUT = 2.0


@asynccontextmanager
async def _through_proxy(url: str) -> AsyncIterator[tuple[str, StallingProxy]]:
    """``url`` (PostgreSQL) reached through a stalling proxy."""
    parsed = make_url(url)
    proxy = StallingProxy(parsed.host or "127.0.0.1", parsed.port or 5432)
    port = await proxy.start()
    try:
        yield parsed.set(port=port).render_as_string(hide_password=False), proxy
    finally:
        await proxy.stop()


@asynccontextmanager
async def _hanging(backend: str, tmp_path: Path
                   ) -> AsyncIterator[tuple[str, Callable[[], None], Callable[[], None]]]:
    """(the hub's database URL, hang(), recover()) for ``backend``."""
    async with database_url(backend, tmp_path) as url:
        if backend == "postgres":
            async with _through_proxy(url) as (proxied, proxy):
                yield proxied, proxy.stall, proxy.resume
            return
        holder: list[sqlite3.Connection] = []

        def hang() -> None:  # another program's write transaction, left open
            connection = sqlite3.connect(sqlite_path(url), isolation_level=None)
            connection.execute("BEGIN IMMEDIATE")
            holder.append(connection)

        def recover() -> None:
            holder.pop().rollback()

        try:
            yield url, hang, recover
        finally:
            for connection in holder:
                connection.close()


@pytest.mark.postgres
async def test_a_statement_fails_within_its_timeout_and_the_pool_recovers(tmp_path):
    async with database_url("postgres", tmp_path) as url, _through_proxy(url) as (proxied, proxy):
        engine = make_engine(proxied, statement_timeout=STATEMENT_TIMEOUT)
        sessions = make_sessionmaker(engine)

        async def select_one() -> int:
            async with sessions() as session:
                return (await session.execute(text("SELECT 1"))).scalar_one()

        try:
            assert await select_one() == 1
            proxy.stall()
            # The first finds its pooled connection silent (the pool's ping times out) and
            # a new one unanswered; the second only the new one.
            for _ in range(2):
                started = time.monotonic()
                with pytest.raises(Exception) as caught:
                    await asyncio.wait_for(select_one(), timeout=STATEMENT_TIMEOUT * 5)
                waited = time.monotonic() - started
                print(f"\nstalled: {type(caught.value).__name__} after {waited:.2f} s")
                assert STATEMENT_TIMEOUT * 0.9 < waited < STATEMENT_TIMEOUT * 2.5
                # Seen as the database being away (retried later), never as a refusal of data.
                assert may_pass(caught.value) and not is_refusal(caught.value)
            proxy.resume()
            started = time.monotonic()
            assert await select_one() == 1
            print(f"resumed: answered after {time.monotonic() - started:.2f} s")
        finally:
            await engine.dispose()


@pytest.mark.parametrize("backend", [
    "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_a_webhook_during_a_hang_gets_503_and_its_retry_is_sent_once(tmp_path, backend):
    async with _hanging(backend, tmp_path) as (url, hang, recover):
        settings = make_settings(tmp_path, url, server={"store_wait_seconds": STORE_WAIT},
                                 database={"url": url,
                                           "statement_timeout_seconds": STATEMENT_TIMEOUT})
        body = json.dumps(event_payload("return.approved", "R-HANG",
                                        customer=customer(1))).encode()
        async with started_hub(settings) as hub, \
                TestClient(TestServer(create_app(hub))) as client:
            hang()
            started = time.monotonic()
            async with asyncio.timeout(STORE_WAIT * 5):  # without a limit: held open
                response = await client.post("/webhooks/shop", data=body,
                                             headers=signed_headers(body, "msg-hang"))
            waited = time.monotonic() - started
            answer = await response.json()
            print(f"\n{backend}: during the hang {response.status} after {waited:.2f} s "
                  f"(Retry-After {response.headers.get('Retry-After')})")
            assert response.status == 503
            assert answer["error"]["code"] == "unavailable"
            assert response.headers["Retry-After"]
            assert STORE_WAIT * 0.9 < waited < STORE_WAIT * 3
            recover()
            # The platform retries the same delivery until it gets a 2xx.
            statuses = []
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                response = await client.post("/webhooks/shop", data=body,
                                             headers=signed_headers(body, "msg-hang"))
                statuses.append(response.status)
                if response.status < 300:
                    break
                await asyncio.sleep(0.2)
            print(f"{backend}: retries after the hang answered {statuses}")
            assert statuses[-1] in (200, 202)

            # An event committed after its 503 is handed to this node's processor all the
            # same: applied and sent now, not once the lease it was written with runs out.
            await hub.drain()
            async with hub.sessionmaker() as session:
                stored = (await session.execute(
                    select(func.count()).select_from(InboxEvent)
                    .where(InboxEvent.return_ref == "R-HANG"))).scalar_one()
            emails = sorted((tmp_path / "outbox").glob("*.eml"))
        print(f"{backend}: stored {stored}, emails sent {len(emails)} by one drain")
        assert stored == 1
        assert len(emails) == 1


@pytest.mark.postgres
async def test_a_commit_past_the_drivers_timeout_is_logged_as_a_failure_not_as_slow(tmp_path):
    """With the statement timeout shorter than the webhook's wait, the 503 comes from the
    commit's own failure (asyncpg's TimeoutError), and is logged as such."""
    async with database_url("postgres", tmp_path) as url, _through_proxy(url) as (proxied, proxy):
        settings = make_settings(tmp_path, proxied, server={"store_wait_seconds": 10},
                                 database={"url": proxied, "statement_timeout_seconds": 1})
        body = json.dumps(event_payload("return.approved", "R-DRIVER",
                                        customer=customer(2))).encode()
        async with started_hub(settings) as hub, \
                TestClient(TestServer(create_app(hub))) as client:
            proxy.stall()
            started = time.monotonic()
            with capture_logs() as logs:
                response = await client.post("/webhooks/shop", data=body,
                                             headers=signed_headers(body, "msg-driver"))
            waited = time.monotonic() - started
            proxy.resume()
    events = [entry["event"] for entry in logs if entry["event"].startswith("inbox_submit")]
    print(f"\n503 after {waited:.2f} s, logged {events}")
    assert response.status == 503 and waited < 5
    assert events == ["inbox_submit_failed"]
