"""Returnhub source plugin for ERP / WMS return authorizations (webhooks and polling)."""

from __future__ import annotations

from hub.contract import hookimpl
from returnhub_erp.source import ErpSource

__all__ = ["ErpSource"]


@hookimpl
def returnhub_register_connectors(register):
    """Register the ``erp`` source type."""
    register(ErpSource)
