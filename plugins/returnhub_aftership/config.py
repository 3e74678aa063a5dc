"""Settings of an AfterShip Tracking source instance (``type = "aftership"``)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from hub.contract import WebhookSecretSettings


class AfterShipSettings(WebhookSecretSettings):
    """AfterShip Tracking webhooks, signed with the account's webhook secret."""

    webhook_secret: SecretStr = Field(
        min_length=1, description="The webhook secret from AfterShip (Settings → Webhooks); "
        "verifies the aftership-hmac-sha256 header.")

    def secrets(self) -> list[bytes]:
        """Every key a webhook may be signed with: the current one first."""
        return [value.encode() for value in self.secret_values()]
