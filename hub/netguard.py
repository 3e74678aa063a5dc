"""Outbound destinations: never a private, loopback, link-local or otherwise non-public address.

URLs that come from config or data (an ERP's polling endpoint, a help desk's webhook, an image
URL) could point the hub at its own network. The guard works at the only place that cannot be
fooled: after DNS resolution. The hub's HTTP session resolves names through
:class:`GuardedResolver`, which checks *every* resolved address and hands aiohttp only the
checked ones, so the address connected to is the address checked (no second lookup). Literal
IP hosts skip resolvers in aiohttp, so they are checked before each request starts. Redirects
are not followed by the hub's own calls.

Operators allow their own networks explicitly (``security.outbound_allow``), e.g. a provider
fake on 127.0.0.1 in tests or an ERP on the office LAN.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver

#: Ranges ``is_global`` lets through that are still not a public destination.
_EXTRA_BLOCKED = [ipaddress.ip_network(n) for n in (
    "192.0.0.0/24", "192.88.99.0/24", "2002::/16", "64:ff9b::/96", "64:ff9b:1::/48",
    "5f00::/16", "3fff::/20")]

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class DestinationBlocked(aiohttp.ClientError):
    """The destination resolves to an address the hub must not connect to."""


def parse_networks(values: Iterable[str]) -> list[IpNetwork]:
    """CIDR strings to networks (a bare address is a /32 or /128)."""
    return [ipaddress.ip_network(v, strict=False) for v in values]


def is_public(address: str, allow: list[IpNetwork] = ()) -> bool:
    """Whether ``address`` is a public unicast address (or inside an allowed network)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is loopback, whatever is_loopback says
    if any(ip in network for network in allow):
        return True
    if not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_unspecified:
        return False
    return not any(ip in network for network in _EXTRA_BLOCKED)


class GuardedResolver(AbstractResolver):
    """Resolves with the system resolver and keeps only public (or allowed) addresses."""

    def __init__(self, allow: list[IpNetwork] = ()) -> None:
        self._inner = aiohttp.ThreadedResolver()
        self._allow = list(allow)

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[Any]:
        """Resolve ``host``; raise :class:`DestinationBlocked` when no address may be used."""
        results = await self._inner.resolve(host, port, family)
        allowed = [r for r in results if is_public(r["host"], self._allow)]
        if not allowed:
            raise DestinationBlocked(f"{host} resolves only to non-public addresses")
        return allowed

    async def close(self) -> None:
        """Release the inner resolver."""
        await self._inner.close()


#: Hosts whose literal check is remembered (names and addresses, each decided once).
_REMEMBERED_HOSTS = 1024


def literal_host_guard(allow: list[IpNetwork]) -> Any:
    """A client middleware that refuses requests to literal non-public IP hosts (aiohttp does
    not resolve literal addresses, so the resolver never sees them). It runs for every request
    and every redirect hop; the decision is remembered per host, so a request costs one dict
    lookup (a trace hook cost ~0.15 ms per request: aiohttp then signals every chunk sent)."""
    decided: dict[str, bool] = {}

    def allowed(host: str) -> bool:
        try:
            ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return True  # a name: the resolver checks what it resolves to
        return is_public(host, allow)

    async def guard(request: aiohttp.ClientRequest, handler: Any) -> aiohttp.ClientResponse:
        host = (request.url.host or "").strip("[]")
        verdict = decided.get(host)
        if verdict is None:
            if len(decided) >= _REMEMBERED_HOSTS:
                decided.clear()
            verdict = decided[host] = allowed(host)
        if not verdict:
            raise DestinationBlocked(f"{host} is not a public address")
        return await handler(request)

    return guard


def guarded_session(allow: list[IpNetwork] = (), **kwargs: Any) -> aiohttp.ClientSession:
    """An ``aiohttp.ClientSession`` that can only reach public addresses (and ``allow``)."""
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(allow), limit=200,
                                     limit_per_host=100, ttl_dns_cache=60)
    return aiohttp.ClientSession(connector=connector,
                                 middlewares=(literal_host_guard(list(allow)),), **kwargs)
