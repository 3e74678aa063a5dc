"""Settings of an EasyPost source instance (``type = "easypost"``)."""

from __future__ import annotations

import unicodedata

from pydantic import Field, SecretStr

from hub.contract import WebhookSecretSettings


class EasyPostSettings(WebhookSecretSettings):
    """EasyPost tracker webhooks: the secret set on the Webhook object (``webhook_secret``)."""

    webhook_secret: SecretStr = Field(
        min_length=1, description="The `webhook_secret` given when the EasyPost Webhook was "
        "created or updated; verifies the X-Hmac-Signature header.")

    def secrets(self) -> list[bytes]:
        """Signing keys as EasyPost uses them: NFKD-normalized, UTF-8; current one first."""
        return [unicodedata.normalize("NFKD", value).encode() for value in self.secret_values()]
