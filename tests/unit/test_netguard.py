"""Outbound destinations are checked after resolution: every SSRF vector is refused."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from hub.netguard import DestinationBlocked, guarded_session, is_public, parse_networks

VECTORS = json.loads((Path(__file__).parent.parent / "fixtures/vectors/ssrf_destinations.json")
                     .read_text())


@pytest.mark.parametrize("address", VECTORS["svix_blocked_ips"])
def test_blocked_addresses(address):
    assert not is_public(address)


@pytest.mark.parametrize("address", VECTORS["svix_allowed_ips"])
def test_public_addresses(address):
    assert is_public(address)


def test_allow_list_admits_an_operators_network():
    assert is_public("127.0.0.1", parse_networks(["127.0.0.0/8"]))
    assert not is_public("10.0.0.1", parse_networks(["127.0.0.0/8"]))


async def _server() -> TestServer:
    async def inside(_request: web.Request) -> web.Response:
        return web.Response(text="inside")

    app = web.Application()
    app.router.add_get("/", inside)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


@pytest.mark.parametrize("host", [case["host"] for case in
                                  VECTORS["python_resolver_bypasses"]["cases"]] + ["127.0.0.1"])
async def test_resolver_bypasses_never_reach_loopback(host):
    server = await _server()
    try:
        async with guarded_session() as session:
            # Refused by the guard, or by yarl as a non-canonical address: never fetched.
            with pytest.raises((DestinationBlocked, aiohttp.InvalidUrlClientError)):
                await session.get(f"http://{host}:{server.port}/")
    finally:
        await server.close()


@pytest.mark.parametrize("url", VECTORS["svix_blocked_urls"] +
                         VECTORS["cloud_metadata_must_block"][:2])
async def test_blocked_urls(url):
    async with guarded_session() as session:
        with pytest.raises((DestinationBlocked, OSError, ValueError)) as error:
            await session.get(url, timeout=2)
    assert not isinstance(error.value, TimeoutError)


async def test_allowed_network_is_reachable():
    server = await _server()
    try:
        async with guarded_session(parse_networks(["127.0.0.0/8"])) as session:
            async with session.get(f"http://127.0.0.1:{server.port}/") as response:
                assert await response.text() == "inside"
    finally:
        await server.close()


async def test_a_redirect_to_a_literal_address_outside_the_allow_list_is_refused():
    """Each hop is checked: an allowed host that redirects to a literal address the hub may
    not reach gets a DestinationBlocked, not the second server's answer."""
    target = await _server()

    async def bounce(_request: web.Request) -> web.Response:
        raise web.HTTPFound(f"http://127.0.0.2:{target.port}/")

    app = web.Application()
    app.router.add_get("/", bounce)
    first = TestServer(app, host="127.0.0.1")
    await first.start_server()
    try:
        async with guarded_session(parse_networks(["127.0.0.1/32"])) as session:
            with pytest.raises(DestinationBlocked):
                await session.get(f"http://127.0.0.1:{first.port}/", allow_redirects=True)
            # The decision is remembered per host, not per session: the allowed host still works.
            async with session.get(f"http://127.0.0.1:{target.port}/") as response:
                assert await response.text() == "inside"
    finally:
        await first.close()
        await target.close()
