"""Settings of a ``mailchimp_transactional`` sink."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from hub.contract import HttpSinkSettings, SenderSettings, http_url


class MandrillSettings(HttpSinkSettings, SenderSettings):
    """``[sinks.<name>]`` with ``type = "mailchimp_transactional"``: ``base_url``, the timeouts
    (the official client waits 300 s) and the sender (a verified sending domain) come from the
    contract's mixins."""

    api_key: SecretStr = Field(description="Mailchimp Transactional API key.")
    base_url: str = Field(
        "https://mandrillapp.com/api/1.3",
        description="API base URL including the version (the official client's default), or a "
        "local fake server in tests.")
    subaccount: str | None = Field(
        None, description="Subaccount to send through; it must already exist at Mailchimp.")
    webhook_key: SecretStr | None = Field(
        None, description="The webhook's key from Settings → Webhooks. Without it only "
        "Mandrill's empty verification batch is accepted.")
    webhook_url: str | None = Field(
        None, description="The URL exactly as registered at Mandrill (it is part of the "
        "signature). Default: <server.public_url>/webhooks/<sink name>.")

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        # Signed exactly as registered, trailing slash included.
        return http_url(value, strip_slash=False)
