"""The ``portal`` sink: in-app notices shown on the customer's return page."""

from __future__ import annotations

from hub import hookimpl
from returnhub_portal.sink import PortalSink


@hookimpl
def returnhub_register_connectors(register):  # noqa: ANN001, ANN201
    """Register the ``portal`` sink type."""
    register(PortalSink)
