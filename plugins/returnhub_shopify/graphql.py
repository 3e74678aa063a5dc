"""A minimal Admin GraphQL client whose failures say what the worker must do next.

Transport failures, 5xx, 429 and GraphQL ``THROTTLED`` are retryable (:class:`TransientError`
subclasses); a refused token (401/403), an unknown shop or API version (404) and a frozen or
locked shop (402/423) are :class:`ProviderMisconfigured`: retrying will not help until an admin
fixes the configuration.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import aiohttp
import orjson

from hub.contract import (
    PermanentError,
    ProviderMisconfigured,
    ProviderUnavailable,
    RateLimited,
    TransientError,
    dumps,
)

if TYPE_CHECKING:
    from returnhub_shopify.config import ShopifySettings

TOKEN_HEADER = "X-Shopify-Access-Token"  # noqa: S105 - a header name, not a secret
_MISCONFIGURED = {401: "the Admin API refused the access token",
                  403: "the access token lacks a required scope",
                  404: "the Admin API URL or API version was not found",
                  402: "the shop is frozen (unpaid)",
                  423: "the shop is locked"}


class AdminApi:
    """POSTs queries to ``{shop}/admin/api/{version}/graphql.json`` with the access token."""

    def __init__(self, session: aiohttp.ClientSession, settings: ShopifySettings,
                 provider: str) -> None:
        self._session = session
        self._settings = settings
        self._provider = provider

    async def execute(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        """Run one query or mutation and return its ``data``; raise a classified error."""
        token = self._settings.access_token
        if token is None:
            raise ProviderMisconfigured("access_token is not configured", provider=self._provider)
        headers = {TOKEN_HEADER: token.get_secret_value(), "Content-Type": "application/json",
                   "Accept": "application/json"}
        timeout = aiohttp.ClientTimeout(total=self._settings.timeout_seconds)
        try:
            # No redirects: the token header must never follow a Location to another host.
            async with self._session.post(
                self._settings.graphql_url(), data=dumps({"query": query, "variables": variables}),
                headers=headers, timeout=timeout, allow_redirects=False,
            ) as response:
                status = response.status
                retry_after = response.headers.get("Retry-After")
                body = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ProviderUnavailable(f"the Admin API request failed ({type(exc).__name__})",
                                      provider=self._provider) from None
        return self._classify(status, body, retry_after)

    def _classify(self, status: int, body: bytes, retry_after: str | None) -> dict[str, Any]:
        provider = self._provider
        excerpt = body[:300].decode("utf-8", "replace")
        if status in _MISCONFIGURED:
            raise ProviderMisconfigured(_MISCONFIGURED[status], provider=provider, status=status,
                                        detail=excerpt)
        if status == 429:
            raise RateLimited("the Admin API is throttling requests", provider=provider,
                              status=status, retry_after=_seconds(retry_after))
        if status >= 500:
            raise ProviderUnavailable("the Admin API failed", provider=provider, status=status,
                                      detail=excerpt)
        if status != 200:
            raise PermanentError("the Admin API refused the request", provider=provider,
                                 status=status, detail=excerpt)
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise ProviderUnavailable("the Admin API answered with something other than JSON",
                                      provider=provider, status=status) from None
        if not isinstance(document, dict):
            raise ProviderUnavailable("the Admin API answer is not a JSON object",
                                      provider=provider, status=status)
        errors = document.get("errors")
        if errors:
            _raise_graphql_errors(errors, document.get("extensions"), provider)
        data = document.get("data")
        if not isinstance(data, dict):
            raise ProviderUnavailable("the Admin API answer has no data", provider=provider)
        return data


def _raise_graphql_errors(errors: Any, extensions: Any, provider: str) -> None:
    entries = errors if isinstance(errors, list) else [{"message": str(errors)}]
    codes = {str((e.get("extensions") or {}).get("code", "")) for e in entries
             if isinstance(e, dict) and isinstance(e.get("extensions"), dict)}
    detail = "; ".join(str(e.get("message", ""))[:120] for e in entries if isinstance(e, dict))
    if "THROTTLED" in codes:
        raise RateLimited("the Admin API query was throttled", provider=provider,
                          retry_after=_throttle_wait(extensions), detail=detail)
    if "ACCESS_DENIED" in codes:
        raise ProviderMisconfigured("the access token lacks a required scope",
                                    provider=provider, detail=detail)
    raise TransientError("the Admin API answered with GraphQL errors", provider=provider,
                         detail=detail)


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _throttle_wait(extensions: Any) -> float | None:
    """Seconds until the leaky bucket holds the requested cost again, from ``extensions.cost``."""
    try:
        cost = extensions["cost"]
        status = cost["throttleStatus"]
        missing = float(cost["requestedQueryCost"]) - float(status["currentlyAvailable"])
        return max(0.0, missing / float(status["restoreRate"]))
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
