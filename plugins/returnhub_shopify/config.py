"""Settings of a Shopify source instance (``[sources.<name>]`` with ``type = "shopify"``)."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from hub.contract import ConnectorSettings


class ShopifySettings(ConnectorSettings):
    """One Shopify store: its webhook signing secret(s) and, for enrich/act, Admin API access."""

    shop_domain: str = Field(
        description="The store's permanent domain, e.g. `example.myshopify.com`. Webhooks whose "
        "X-Shopify-Shop-Domain header names another shop are refused (401).",
        pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$",
    )
    api_secret: SecretStr = Field(
        description="The app's client secret (or, for webhooks made in the store admin, the "
        "signing key shown under Settings → Notifications → Webhooks). Verifies "
        "X-Shopify-Hmac-Sha256.",
        min_length=1,
    )
    previous_api_secret: SecretStr | None = Field(
        None, description="The secret before a rotation; also accepted until you remove it "
        "(Shopify may sign with the old secret for up to an hour after rotating).")
    access_token: SecretStr | None = Field(
        None, description="Admin API access token (scope read_returns, read_orders, "
        "read_customers; write_returns to approve/decline). Without it, events are not "
        "enriched and actions are refused.")
    api_version: str = Field(
        "2025-10", pattern=r"^(\d{4}-(01|04|07|10)|unstable)$",
        description="Admin GraphQL API version, e.g. `2025-10`.")
    admin_url: str | None = Field(
        None, description="Base URL of the Admin API. Default: `https://<shop_domain>`. Tests "
        "point it at a fake server.")
    timeout_seconds: float = Field(10.0, gt=0, le=120,
                                   description="Longest wait for one Admin API call.")

    @field_validator("shop_domain")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()

    @field_validator("admin_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must start with https:// (or http:// for a local test server)")
        return value.rstrip("/") if value else value

    def graphql_url(self) -> str:
        """The Admin GraphQL endpoint for the configured API version."""
        base = self.admin_url or f"https://{self.shop_domain}"
        return f"{base}/admin/api/{self.api_version}/graphql.json"

    def secrets(self) -> list[bytes]:
        """Every secret a webhook may be signed with: the current one first."""
        keys = [self.api_secret.get_secret_value().encode()]
        if self.previous_api_secret is not None:
            keys.append(self.previous_api_secret.get_secret_value().encode())
        return keys
