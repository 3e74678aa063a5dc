"""Settings of an EasyPost source instance (``type = "easypost"``)."""

from __future__ import annotations

import unicodedata

from pydantic import Field, SecretStr

from hub.contract import ConnectorSettings


class EasyPostSettings(ConnectorSettings):
    """EasyPost tracker webhooks: the secret set on the Webhook object (``webhook_secret``)."""

    webhook_secret: SecretStr = Field(
        min_length=1, description="The `webhook_secret` given when the EasyPost Webhook was "
        "created or updated; verifies the X-Hmac-Signature header.")
    previous_webhook_secret: SecretStr | None = Field(
        None, description="The secret before a rotation, accepted until removed.")

    def secrets(self) -> list[bytes]:
        """Signing keys as EasyPost uses them: NFKD-normalized, UTF-8; current one first."""
        values = [self.webhook_secret, self.previous_webhook_secret]
        return [unicodedata.normalize("NFKD", v.get_secret_value()).encode()
                for v in values if v is not None]
