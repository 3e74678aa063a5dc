"""SendGrid sink: email through the v3 Mail Send API, delivery status from the signed Event
Webhook. Registered under the config type ``sendgrid``."""

from __future__ import annotations

from hub.contract import hookimpl
from returnhub_sendgrid.sink import SendGridSink

#: The plugin API versions this plugin works with (checked by the hub at load).
RETURNHUB_API = ">=1.0,<2"

__all__ = ["SendGridSink"]


@hookimpl
def returnhub_register_connectors(register):
    """Register :class:`SendGridSink`."""
    register(SendGridSink)
