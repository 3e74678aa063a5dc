"""Returnhub source plugin for EasyPost tracker webhooks."""

from __future__ import annotations

from hub.contract import hookimpl
from returnhub_easypost.source import EasyPostSource

#: The plugin API versions this plugin works with (checked by the hub at load).
RETURNHUB_API = ">=1.1,<2"

__all__ = ["EasyPostSource"]


@hookimpl
def returnhub_register_connectors(register):
    """Register the ``easypost`` source type."""
    register(EasyPostSource)
