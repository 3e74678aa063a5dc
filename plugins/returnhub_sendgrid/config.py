"""Settings of a ``sendgrid`` sink."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from hub.contract import HttpSinkSettings, SenderSettings
from returnhub_sendgrid.webhook import load_public_key


class SendGridSettings(HttpSinkSettings, SenderSettings):
    """``[sinks.<name>]`` with ``type = "sendgrid"``: ``base_url``, the timeouts and the sender
    come from the contract's mixins (the sender must be a verified Sender Identity)."""

    api_key: SecretStr = Field(description="API key with the Mail Send permission (SG.…).")
    base_url: str = Field(
        "https://api.sendgrid.com",
        description="API base URL: https://api.eu.sendgrid.com for EU-pinned subusers, or a "
        "local fake server in tests.")
    on_behalf_of: str | None = Field(
        None, description="Subuser to send as (the On-Behalf-Of header), for a parent account key.")
    sandbox_mode: bool = Field(
        False, description="Ask SendGrid to validate without delivering (answers 200, no events).")
    batch_window_ms: float = Field(
        20, ge=0, le=1000, description="Promotional messages of the same content sent within "
        "this window share one API call (one personalization each, up to 1,000); 0: one call "
        "per message. Transactional messages never wait.")
    webhook_public_key: str | None = Field(
        None, description="Signed Event Webhook verification key (base64, from Settings → Mail "
        "Settings → Event Webhook). Without it status webhooks are refused.")
    webhook_tolerance_seconds: int = Field(
        300, ge=1, description="How far the webhook timestamp may be from the hub's clock, "
        "either way, before a signed batch is refused as a replay.")

    @field_validator("webhook_public_key")
    @classmethod
    def _loadable_key(cls, value: str | None) -> str | None:
        if value is not None:
            load_public_key(value)  # raises ValueError naming the problem
        return value
