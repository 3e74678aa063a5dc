"""Returnhub source plugin for AfterShip Tracking webhooks."""

from __future__ import annotations

from hub.contract import hookimpl
from returnhub_aftership.source import AfterShipSource

#: The plugin API versions this plugin works with (checked by the hub at load).
RETURNHUB_API = ">=1.1,<2"

__all__ = ["AfterShipSource"]


@hookimpl
def returnhub_register_connectors(register):
    """Register the ``aftership`` source type."""
    register(AfterShipSource)
