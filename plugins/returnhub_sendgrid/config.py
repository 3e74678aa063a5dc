"""Settings of a ``sendgrid`` sink."""

from __future__ import annotations

from typing import Self

from pydantic import Field, SecretStr, field_validator, model_validator

from hub.contract import ConnectorSettings
from returnhub_sendgrid.webhook import load_public_key


class SendGridSettings(ConnectorSettings):
    """``[sinks.<name>]`` with ``type = "sendgrid"``."""

    api_key: SecretStr = Field(description="API key with the Mail Send permission (SG.…).")
    base_url: str = Field(
        "https://api.sendgrid.com",
        description="API base URL: https://api.eu.sendgrid.com for EU-pinned subusers, or a "
        "local fake server in tests.")
    from_address: str | None = Field(
        None, description="Sender address when the message names none; must be a verified "
        "Sender Identity at SendGrid.")
    from_name: str | None = Field(None, description="Sender display name used with from_address.")
    on_behalf_of: str | None = Field(
        None, description="Subuser to send as (the On-Behalf-Of header), for a parent account key.")
    sandbox_mode: bool = Field(
        False, description="Ask SendGrid to validate without delivering (answers 200, no events).")
    connect_timeout_seconds: float = Field(
        3.0, gt=0, description="Longest wait for a connection; a timeout here is retried "
        "safely because nothing was sent.")
    read_timeout_seconds: float = Field(
        10.0, gt=0, description="Longest silence while waiting for SendGrid's answer; a "
        "timeout here makes the outcome unknown (the message may have been accepted).")
    webhook_public_key: str | None = Field(
        None, description="Signed Event Webhook verification key (base64, from Settings → Mail "
        "Settings → Event Webhook). Without it status webhooks are refused.")
    webhook_tolerance_seconds: int = Field(
        300, ge=1, description="How far the webhook timestamp may be from the hub's clock, "
        "either way, before a signed batch is refused as a replay.")

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with https:// (or http:// for a local fake)")
        return value.rstrip("/")

    @field_validator("webhook_public_key")
    @classmethod
    def _loadable_key(cls, value: str | None) -> str | None:
        if value is not None:
            load_public_key(value)  # raises ValueError naming the problem
        return value

    @model_validator(mode="after")
    def _sender(self) -> Self:
        if self.from_name is not None and self.from_address is None:
            raise ValueError("from_name needs from_address")
        return self
