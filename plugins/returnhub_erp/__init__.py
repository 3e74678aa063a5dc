"""Returnhub source plugin for ERP / WMS return authorizations (webhooks and polling)."""

from __future__ import annotations

from hub.contract import hookimpl
from returnhub_erp.source import ErpSource

#: The plugin API versions this plugin works with (checked by the hub at load).
RETURNHUB_API = ">=1.0,<2"

__all__ = ["ErpSource"]


@hookimpl
def returnhub_register_connectors(register):
    """Register the ``erp`` source type."""
    register(ErpSource)
