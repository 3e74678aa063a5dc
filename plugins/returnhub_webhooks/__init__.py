"""Generic signed-webhook source: platforms that post normalized return events, signed with
Standard Webhooks (https://www.standardwebhooks.com)."""

from __future__ import annotations

from hub.contract import hookimpl
from returnhub_webhooks.source import StandardWebhooksSource

#: The plugin API versions this plugin works with (checked by the hub at load).
RETURNHUB_API = ">=1.0,<2"


@hookimpl
def returnhub_register_connectors(register):  # noqa: ANN001, ANN201
    """Register the ``standard_webhooks`` source type."""
    register(StandardWebhooksSource)
