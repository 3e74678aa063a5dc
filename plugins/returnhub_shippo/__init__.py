"""Returnhub source plugin for Shippo tracking webhooks."""

from __future__ import annotations

from hub.contract import hookimpl
from returnhub_shippo.source import ShippoSource

#: The plugin API versions this plugin works with (checked by the hub at load).
RETURNHUB_API = ">=1.1,<2"

__all__ = ["ShippoSource"]


@hookimpl
def returnhub_register_connectors(register):
    """Register the ``shippo`` source type."""
    register(ShippoSource)
