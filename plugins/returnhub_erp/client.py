"""HTTP access to the ERP's RMA list: authentication, paging, and classified failures.

Failures say what the poller must do: connection errors, timeouts, 5xx and 429 are retryable
(:class:`TransientError` subclasses); a refused login (401/403), a wrong URL (404) or a page
that does not look like the configuration says are :class:`ProviderMisconfigured`.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson
from yarl import URL

from hub.contract import PermanentError, ProviderMisconfigured, ProviderUnavailable, RateLimited
from returnhub_erp.paths import lookup

if TYPE_CHECKING:
    from returnhub_erp.config import ErpSettings


class ErpClient:
    """Reads pages of records from ``{base_url}{path}``, newest-cursor filter first."""

    def __init__(self, session: aiohttp.ClientSession, settings: ErpSettings,
                 provider: str) -> None:
        self._session = session
        self._settings = settings
        self._provider = provider

    async def records(self, cursor: str | None) -> AsyncIterator[Any]:
        """Every record changed after ``cursor`` (all records when None), page after page."""
        s = self._settings
        base = URL(f"{s.base_url}{s.path}")
        params: dict[str, str] = dict(s.query)
        if cursor is not None:
            params[s.cursor_param] = cursor
        url: URL | None = base.update_query(params) if params else base
        position = 1 if s.pagination == "page" else 0
        seen: set[str] = set()
        for _ in range(s.max_pages):
            if url is None:
                return
            if s.pagination in ("page", "offset"):
                paging = {s.page_param if s.pagination == "page" else s.offset_param: str(position)}
                if s.page_size_param:
                    paging[s.page_size_param] = str(s.page_size)
                url = url.update_query(paging)
            if str(url) in seen:  # a next link pointing back: stop rather than loop
                return
            seen.add(str(url))
            page = await self._get(url)
            records = lookup(page, s.records_path) if s.records_path else page
            if records is None and s.records_path:
                records = []
            if not isinstance(records, list):
                raise ProviderMisconfigured(
                    f"records_path {s.records_path!r} does not point at an array",
                    provider=self._provider)
            for record in records:
                yield record
            url, position = self._next(page, url, records, position)

    def _next(self, page: Any, url: URL, records: list[Any],
              position: int) -> tuple[URL | None, int]:
        s = self._settings
        if s.pagination == "none":
            return None, position
        if s.pagination == "next_link":
            link = lookup(page, s.next_path)
            if not link:
                return None, position
            if not isinstance(link, str):
                raise ProviderMisconfigured(f"next_path {s.next_path!r} is not a URL",
                                            provider=self._provider)
            target = URL(s.base_url).join(URL(link))
            if target.origin() != URL(s.base_url).origin():
                # Following it would send our credentials to another host.
                raise ProviderMisconfigured("the next-page link points to another host",
                                            provider=self._provider)
            return target, position
        short = s.page_size_param is not None and len(records) < s.page_size
        if not records or short:
            return None, position
        return url, position + (1 if s.pagination == "page" else len(records))

    async def _get(self, url: URL) -> Any:
        s = self._settings
        headers = {"Accept": "application/json"}
        if s.bearer_token is not None:
            headers["Authorization"] = f"Bearer {s.bearer_token.get_secret_value()}"
        elif s.username is not None and s.password is not None:
            pair = f"{s.username}:{s.password.get_secret_value()}".encode()
            headers["Authorization"] = f"Basic {base64.b64encode(pair).decode()}"
        try:
            # No redirects: credentials must never follow a Location to another host.
            async with self._session.get(
                url, headers=headers, allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=s.timeout_seconds),
            ) as response:
                status = response.status
                retry_after = response.headers.get("Retry-After")
                body = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ProviderUnavailable(f"the ERP request failed ({type(exc).__name__})",
                                      provider=self._provider) from None
        return self._classify(status, body, retry_after)

    def _classify(self, status: int, body: bytes, retry_after: str | None) -> Any:
        provider = self._provider
        if status in (401, 403):
            raise ProviderMisconfigured("the ERP refused our credentials", provider=provider,
                                        status=status)
        if status == 404:
            raise ProviderMisconfigured("the ERP has no such endpoint (check base_url and path)",
                                        provider=provider, status=status)
        if status == 429:
            raise RateLimited("the ERP is throttling requests", provider=provider, status=status,
                              retry_after=_seconds(retry_after))
        if status >= 500:
            raise ProviderUnavailable("the ERP failed", provider=provider, status=status)
        if not 200 <= status < 300:
            # No body excerpt: an ERP may echo record contents (customer data) in its errors.
            raise PermanentError("the ERP refused the request", provider=provider, status=status)
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            raise ProviderUnavailable("the ERP answered with something other than JSON",
                                      provider=provider, status=status) from None


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
