"""Returnhub source plugin for Shopify returns, refunds and privacy webhooks."""

from __future__ import annotations

from hub.contract import hookimpl
from returnhub_shopify.source import ShopifySource

#: The plugin API versions this plugin works with (checked by the hub at load).
RETURNHUB_API = ">=1.0,<2"

__all__ = ["ShopifySource"]


@hookimpl
def returnhub_register_connectors(register):
    """Register the ``shopify`` source type."""
    register(ShopifySource)
