"""Connector URLs the outbound guard would refuse, found before start-up (``returnhub check``).

A sink whose ``base_url`` points at a private, loopback or link-local address is refused by
:mod:`hub.netguard` at every send; nothing leaves, and the provider is paused. ``check``
resolves each URL setting of every connector the way the guard will and names the connector
and the field, so the operator fixes the URL or allows the network
(``security.outbound_allow``) before the first message is due.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from hub.netguard import is_public, parse_networks

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from hub.assembly import ConnectorSpec
    from hub.netguard import IpNetwork


def _addresses(host: str) -> list[str]:
    """The addresses ``host`` resolves to (the host itself when it is a literal address)."""
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    else:
        return [host]
    return sorted({info[4][0] for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)})


def refused_reason(url: str, allow: list[IpNetwork]) -> str | None:
    """Why the outbound guard will refuse ``url`` (None: it will not).

    Raises OSError when the host name cannot be resolved."""
    host = (urlsplit(url).hostname or "").strip("[]")
    if not host:
        return None
    addresses = _addresses(host)
    if addresses and not any(is_public(address, allow) for address in addresses):
        return (f"{host} resolves only to non-public addresses, which the outbound guard "
                "refuses (fix the URL, or add the network to security.outbound_allow)")
    return None


def url_fields(spec: ConnectorSpec) -> Iterable[tuple[str, str]]:
    """(field, URL) for each http(s) URL among a connector's settings."""
    for field, value in spec.config:
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            yield field, value


def refused_urls(specs: dict[str, ConnectorSpec], allow: list[str],
                 warn: Callable[[str], None] | None = None) -> list[str]:
    """One problem per connector URL the outbound guard will refuse, as
    ``sinks.<name>.<field>: why``; names that do not resolve are passed to ``warn``."""
    networks = parse_networks(allow)
    problems = []
    for spec in specs.values():
        for field, url in url_fields(spec):
            path = f"{spec.kind}.{spec.name}.{field}"
            try:
                reason = refused_reason(url, networks)
            except OSError:
                if warn is not None:
                    warn(f"{path}: the host does not resolve here; not checked against the "
                         "outbound guard")
                continue
            if reason is not None:
                problems.append(f"{path}: {reason}")
    return problems


def refused_alert_webhooks(urls: list[str], allow: list[str],
                           warn: Callable[[str], None] | None = None) -> list[str]:
    """The same for the alert webhooks, as ``alerts.webhooks.<n>.url: why`` (the URL itself is
    not repeated: a chat webhook's URL is its secret)."""
    networks = parse_networks(allow)
    problems = []
    for n, url in enumerate(urls):
        try:
            reason = refused_reason(url, networks)
        except OSError:
            if warn is not None:
                warn(f"alerts.webhooks.{n}.url: the host does not resolve here; not checked "
                     "against the outbound guard")
            continue
        if reason is not None:
            problems.append(f"alerts.webhooks.{n}.url: {reason}")
    return problems
