"""Settings of a ``mailchimp_transactional`` sink."""

from __future__ import annotations

from typing import Self

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from hub.contract import ConnectorSettings


class MandrillSettings(ConnectorSettings):
    """``[sinks.<name>]`` with ``type = "mailchimp_transactional"``."""

    api_key: SecretStr = Field(description="Mailchimp Transactional API key.")
    base_url: str = Field(
        "https://mandrillapp.com/api/1.3",
        description="API base URL including the version (the official client's default), or a "
        "local fake server in tests.")
    from_address: str | None = Field(
        None, description="Sender address when the message names none (a verified sending "
        "domain).")
    from_name: str | None = Field(None, description="Sender display name used with from_address.")
    subaccount: str | None = Field(
        None, description="Subaccount to send through; it must already exist at Mailchimp.")
    connect_timeout_seconds: float = Field(
        3.0, gt=0, description="Longest wait for a connection; a timeout here is retried "
        "safely because nothing was sent.")
    read_timeout_seconds: float = Field(
        10.0, gt=0, description="Longest silence while waiting for Mandrill's answer (the official "
        "client's default is 300 s); a timeout here makes the outcome unknown.")
    webhook_key: SecretStr | None = Field(
        None, description="The webhook's key from Settings → Webhooks. Without it only "
        "Mandrill's empty verification batch is accepted.")
    webhook_url: str | None = Field(
        None, description="The URL exactly as registered at Mandrill (it is part of the "
        "signature). Default: <server.public_url>/webhooks/<sink name>.")

    @field_validator("base_url", "webhook_url")
    @classmethod
    def _http_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with https:// (or http:// for a local fake)")
        # webhook_url is signed exactly as registered, trailing slash included.
        return value.rstrip("/") if value and info.field_name == "base_url" else value

    @model_validator(mode="after")
    def _sender(self) -> Self:
        if self.from_name is not None and self.from_address is None:
            raise ValueError("from_name needs from_address")
        return self
