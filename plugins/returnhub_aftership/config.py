"""Settings of an AfterShip Tracking source instance (``type = "aftership"``)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from hub.contract import ConnectorSettings


class AfterShipSettings(ConnectorSettings):
    """AfterShip Tracking webhooks, signed with the account's webhook secret."""

    webhook_secret: SecretStr = Field(
        min_length=1, description="The webhook secret from AfterShip (Settings → Webhooks); "
        "verifies the aftership-hmac-sha256 header.")
    previous_webhook_secret: SecretStr | None = Field(
        None, description="The secret before a rotation, accepted until removed.")

    def secrets(self) -> list[bytes]:
        """Every key a webhook may be signed with: the current one first."""
        return [v.get_secret_value().encode()
                for v in (self.webhook_secret, self.previous_webhook_secret) if v is not None]
