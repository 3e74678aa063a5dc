"""The plugin context (issue 14, no back doors): what a connector gets inside a running hub and
outside one, and ``context.state``, the key-value store plugins keep their own state in
instead of the hub's database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from hub.context import LOOPBACK, ConnectorContext
from hub.errors import TransientError
from hub.netguard import DestinationBlocked
from hub.runtime import Hub
from hub.security import PiiCipher, generate_fernet_key
from hub.state import MemoryState, StateError, StateUnavailable
from hub.store.engine import make_engine, make_sessionmaker
from hub.store.models import PluginState
from hub.store.plugin_state import DatabaseState, namespace_of
from tests.conftest import make_settings

#: The whole public surface of a context: anything else is a back door.
CONTRACT = {"name", "http", "public_url", "data_dir", "log", "settings", "state", "close"}
FORBIDDEN = (async_sessionmaker, AsyncSession, AsyncEngine, PiiCipher)


def public_values(obj: Any) -> dict[str, Any]:
    """The public attributes of ``obj`` (methods included), by name."""
    return {name: getattr(obj, name) for name in dir(obj) if not name.startswith("_")}


async def test_a_connector_in_the_hub_gets_the_contract_and_no_database_or_cipher(
        tmp_path, db_url):
    hub = Hub.build(make_settings(tmp_path, db_url))
    await hub.start(workers=False)
    try:
        for connector in [*hub.sources.values(), *hub.sinks.values()]:
            context = connector.context
            values = public_values(context)
            assert set(values) == CONTRACT, connector.name
            for name, value in [*values.items(), *public_values(context.state).items()]:
                assert not isinstance(value, FORBIDDEN), f"{connector.name}: context.{name}"
            assert context.http is hub.http  # the hub's shared, outbound-guarded session
            assert context.settings is hub.specs[connector.name].config
            assert isinstance(context.state, DatabaseState)
    finally:
        await hub.stop()


@pytest.fixture
async def local_server():
    async def ok(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/", ok)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        await runner.cleanup()


async def test_a_context_made_outside_a_hub_has_a_guarded_session_of_its_own(local_server):
    async with ConnectorContext("demo") as context:
        assert isinstance(context.http, aiohttp.ClientSession)
        assert context.http is context.http  # opened once
        with pytest.raises(DestinationBlocked):  # loopback is private: refused by default
            async with context.http.get(local_server):
                pass
        session = context.http
    assert session.closed
    async with ConnectorContext("demo", outbound_allow=LOOPBACK) as context:
        async with context.http.get(local_server) as response:
            assert await response.json() == {"ok": True}


async def test_a_context_never_closes_a_session_it_was_given():
    async with aiohttp.ClientSession() as shared:
        async with ConnectorContext("demo", http=shared) as context:
            assert context.http is shared
        assert not shared.closed


def database_state(hub: Hub, namespace: str) -> DatabaseState:
    return DatabaseState(hub.sessionmaker, hub.cipher, namespace)


@pytest.fixture
async def started_hub(tmp_path, db_url):
    hub = Hub.build(make_settings(tmp_path, db_url))
    await hub.start(workers=False)
    try:
        yield hub
    finally:
        await hub.stop()


@pytest.fixture(params=["memory", "database"])
async def state(request, started_hub):
    if request.param == "memory":
        return MemoryState()
    return database_state(started_hub, "erp:odoo")


async def test_state_get_set_delete(state):
    assert await state.get("cursor") is None
    assert await state.get("cursor", "start") == "start"
    await state.set("cursor", {"page": 2, "after": "2026-12-01T00:00:00Z"})
    value = await state.get("cursor")
    assert value == {"page": 2, "after": "2026-12-01T00:00:00Z"}
    value["page"] = 99  # a copy: changing it changes nothing stored
    assert (await state.get("cursor"))["page"] == 2
    await state.set("cursor", [1, 2])
    assert await state.get("cursor") == [1, 2]
    await state.delete("cursor")
    await state.delete("cursor")
    assert await state.get("cursor") is None


async def test_state_compare_and_set(state):
    assert await state.compare_and_set("cursor", None, "a") is True  # unset -> set
    assert await state.compare_and_set("cursor", None, "b") is False  # no longer unset
    assert await state.compare_and_set("cursor", "x", "b") is False
    assert await state.compare_and_set("cursor", "a", "b") is True
    assert await state.get("cursor") == "b"
    await state.set("pair", (1, 2))
    assert await state.compare_and_set("pair", (1, 2), (2, 3)) is True  # compared as JSON


async def test_state_refuses_what_it_cannot_hold_naming_the_problem(state):
    for key, problem in [("", "non-empty"), ("k" * 201, "longer than 200"),
                         ("a\nb", "control characters")]:
        with pytest.raises(StateError, match=problem):
            await state.set(key, 1)
    for value, problem in [(None, "delete the key"), ({1, 2}, "not JSON"),
                           ("x" * 70_000, "larger than"), (float("nan"), "not JSON")]:
        with pytest.raises(StateError, match=problem):
            await state.set("key", value)
    assert await state.get("key") is None


async def test_only_one_of_two_racing_compare_and_sets_wins(started_hub):
    first, second = (database_state(started_hub, "erp:odoo") for _ in range(2))
    await first.set("cursor", "10")
    results = await asyncio.gather(first.compare_and_set("cursor", "10", "11"),
                                   second.compare_and_set("cursor", "10", "12"))
    assert sorted(results) == [False, True]
    assert await first.get("cursor") == ("11" if results[0] else "12")


async def test_a_very_long_instance_name_still_has_a_namespace_of_its_own(started_hub):
    names = ["x" * 300, "x" * 299 + "y"]
    namespaces = [namespace_of("erp", name) for name in names]
    assert namespaces[0] != namespaces[1] and all(len(n) <= 255 for n in namespaces)
    assert namespace_of("erp", "odoo") == "erp:odoo"
    first, second = (database_state(started_hub, n) for n in namespaces)
    await first.set("cursor", "1")
    assert await second.get("cursor") is None and await first.get("cursor") == "1"


async def test_two_nodes_setting_a_new_key_at_once_both_succeed(started_hub):
    nodes = [database_state(started_hub, "erp:odoo") for _ in range(4)]
    await asyncio.gather(*(node.set("token", f"tok_{n}") for n, node in enumerate(nodes)))
    assert await nodes[0].get("token") in {f"tok_{n}" for n in range(4)}


@pytest.mark.parametrize("url", [
    "sqlite+aiosqlite:///{tmp}/not-migrated.db",
    pytest.param("postgresql+asyncpg://postgres@127.0.0.1:1/none", marks=pytest.mark.postgres)])
async def test_a_database_failure_is_a_transient_error_without_values(tmp_path, url):
    engine = make_engine(url.format(tmp=tmp_path))
    cipher = PiiCipher([generate_fernet_key()], "lookup")
    state = DatabaseState(make_sessionmaker(engine), cipher, "erp:odoo")
    try:
        for call in (state.get("cursor"), state.set("cursor", "tok_secret_42"),
                     state.delete("cursor"), state.compare_and_set("cursor", None, "tok_4")):
            with pytest.raises(StateUnavailable) as caught:
                await call
            assert isinstance(caught.value, TransientError)
            assert "tok_" not in str(caught.value) and "erp:odoo" not in str(caught.value)
            assert str(caught.value).startswith("plugin state unavailable: ")
    finally:
        await engine.dispose()


async def test_state_is_per_instance_encrypted_and_survives_a_restart(tmp_path, db_url):
    settings = make_settings(tmp_path, db_url, sources={
        "shop": {"type": "standard_webhooks", "secret": "whsec_" + "A" * 32},
        "other": {"type": "standard_webhooks", "secret": "whsec_" + "B" * 32}})
    hub = Hub.build(settings)
    await hub.start(workers=False)
    try:
        await hub.sources["shop"].context.state.set("token", "tok_secret_0123")
        assert await hub.sources["other"].context.state.get("token") is None
        async with hub.sessionmaker() as session:
            rows = (await session.execute(select(PluginState))).scalars().all()
        assert [(row.namespace, row.key) for row in rows] == [("standard_webhooks:shop",
                                                               "token")]
        assert b"tok_secret_0123" not in rows[0].value_enc  # encrypted at rest
    finally:
        await hub.stop()
    hub = Hub.build(settings)
    await hub.start(workers=False)
    try:
        assert await hub.sources["shop"].context.state.get("token") == "tok_secret_0123"
    finally:
        await hub.stop()

