"""Settings pieces the bundled connectors share: HTTP endpoints and timeouts, an email sender,
webhook secrets with rotation.

Mix them into a connector's settings model; a subclass may redeclare a field to change its
default or description, and the checks still apply::

    class ChatSettings(HttpSinkSettings):
        base_url: str = Field("https://chat.example", description="API base URL.")
        token: SecretStr = Field(min_length=1, description="Bot token.")
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, SecretStr, field_validator, model_validator

from hub.connectors import ConnectorSettings


def http_url(value: str | None, *, strip_slash: bool = True) -> str | None:
    """The check of a URL setting: http(s) only; ``strip_slash`` drops trailing slashes (a base
    to append paths to). ValueError says how to fix it."""
    if value is None:
        return None
    if not value.startswith(("http://", "https://")):
        raise ValueError("must start with https:// (or http:// for a local fake)")
    return value.rstrip("/") if strip_slash else value


class HttpSinkSettings(ConnectorSettings):
    """``base_url`` and the two timeouts every HTTP sink has (see
    :func:`hub.contract.http_sink.client_timeout`)."""

    base_url: str = Field(description="API base URL, or a local fake server in tests.")
    connect_timeout_seconds: float = Field(
        3.0, gt=0, description="Longest wait for a connection; a timeout here is retried "
        "safely because nothing was sent.")
    read_timeout_seconds: float = Field(
        10.0, gt=0, description="Longest silence while waiting for the provider's answer; a "
        "timeout here makes the outcome unknown (the message may have been accepted).")

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return http_url(value) or value


class SenderSettings(ConnectorSettings):
    """The sender an email sink uses when a message names none."""

    from_address: str | None = Field(
        None, description="Sender address when the message names none (one the provider "
        "accepts for the account).")
    from_name: str | None = Field(None, description="Sender display name used with from_address.")

    @model_validator(mode="after")
    def _sender(self) -> Self:
        if self.from_name is not None and self.from_address is None:
            raise ValueError("from_name needs from_address")
        return self


class WebhookSecretSettings(ConnectorSettings):
    """A webhook signing secret and the one before a rotation, accepted until removed."""

    webhook_secret: SecretStr = Field(
        min_length=1, description="The webhook signing secret the provider shows.")
    previous_webhook_secret: SecretStr | None = Field(
        None, description="The secret before a rotation, accepted until removed.")

    def secret_values(self) -> list[str]:
        """The secrets a webhook may be signed with, the current one first."""
        return [v.get_secret_value()
                for v in (self.webhook_secret, self.previous_webhook_secret) if v is not None]
