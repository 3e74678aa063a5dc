"""Settings of a Shippo source instance (``type = "shippo"``)."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator

from hub.contract import ConnectorSettings


class ShippoSettings(ConnectorSettings):
    """Shippo signs nothing by default: protect the webhook URL with a token, and/or with the
    HMAC signature Shippo enables on request. Every mechanism configured must pass."""

    url_token: SecretStr | None = Field(
        None, min_length=16, description="A random token you put in the webhook URL registered "
        "at Shippo (`.../webhooks/<name>?token=<url_token>`); at least 16 characters.")
    hmac_secret: SecretStr | None = Field(
        None, min_length=1, description="The secret for the opt-in Shippo-Auth-Signature header "
        "(ask Shippo support to enable webhook HMAC).")
    signature_tolerance_seconds: int = Field(
        300, ge=1, le=3600, description="Largest clock difference accepted between the "
        "Shippo-Auth-Signature timestamp and the hub (replay window).")

    @model_validator(mode="after")
    def _some_protection(self) -> ShippoSettings:
        if self.url_token is None and self.hmac_secret is None:
            raise ValueError("set url_token (and/or hmac_secret): Shippo webhooks are unsigned "
                             "by default and must not be accepted from anyone")
        return self
