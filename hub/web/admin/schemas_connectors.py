"""Admin API models of connectors (health, breakers, test sends) and template previews."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, RootModel

from hub.web.admin.schemas_base import Out, Strict

# --- connectors -----------------------------------------------------------------------------

class BreakerOut(Out):
    """A provider's circuit breaker."""

    state: str = Field(description="closed | open | half_open")
    consecutive_failures: int
    last_error: str | None = None
    retry_in_seconds: float | None = Field(None, description="This process only: time until "
                                           "an open breaker lets a probe through.")
    updated_at: datetime | None = Field(None, description="Shared view: when a node last "
                                        "changed it.")
    node: str | None = Field(None, description="Shared view: the node that changed it.")


class ConnectorOut(Out):
    """A configured connector and its health."""

    name: str
    kind: Literal["source", "sink"]
    type: str
    channels: list[str]
    webhooks: bool = Field(description="Accepts webhooks at /webhooks/{name}.")
    health: dict[str, Any] = Field(description="The connector's own health report.")
    breaker: BreakerOut | None = Field(None, description="This process's breaker (sinks).")
    shared_breaker: BreakerOut | None = Field(
        None, description="The breaker state last written by any node (provider_health).")


class ConnectorList(Out):
    """Every configured connector."""

    items: list[ConnectorOut]


class TestSendBody(Strict):
    """A sample message to send through one sink."""

    to: str = Field(min_length=3, max_length=320, description="Address (email or E.164 phone).")
    channel: str | None = Field(None, max_length=32, description="Default: the sink's first "
                                "channel.")
    stage: str = Field("approved", max_length=64, description="Which stage's templates.")
    locale: str | None = Field(None, max_length=35)


class TestSendResult(Out):
    """What the provider said."""

    message_id: str = Field(description="A fresh id, never reused.")
    status: str
    provider_message_id: str | None
    detail: str


# --- rules and templates --------------------------------------------------------------------

class FreeForm(RootModel[dict[str, Any]]):
    """A JSON object whose shape belongs to another component (rules, template preview)."""


class PreviewQuery(Strict):
    """Which template to preview."""

    stage: str = Field(max_length=64)
    channel: str = Field(max_length=32)
    locale: str | None = Field(None, max_length=35)
