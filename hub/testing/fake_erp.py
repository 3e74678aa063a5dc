"""A fake ERP REST endpoint serving return authorizations (RMA records), for tests.

``GET {path}?{cursor_param}=<cursor>&page=N&limit=M`` (or ``offset=``) answers
``{"length": <matching records>, "records": [...], "next": <relative URL or null>}`` with the
records whose cursor field is after the cursor (``inclusive=True``: at or after), oldest first
(ties by ``id``); ``sort=False`` and ``honour_cursor=False`` imitate ERPs that ignore the
order or the filter. It checks a bearer token or basic credentials (401 otherwise), records every
request it served, can be told to fail, and lets a test change records between polls
(:meth:`FakeErp.upsert`) as the ERP's users would.

    async with FakeErp(load("erp/odoo_rma_page.json")["records"], cursor_field="write_date") as erp:
        ...  # point the source's base_url at erp.base_url
"""

from __future__ import annotations

import base64
from collections import deque
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

from aiohttp import web


class FakeErp:
    """An in-memory RMA list endpoint on 127.0.0.1 (see the module docstring)."""

    def __init__(self, records: Iterable[dict[str, Any]] = (), *, path: str = "/api/rma",
                 cursor_field: str = "updated_at", cursor_param: str = "updated_since",
                 token: str | None = "erp-api-token", username: str | None = None,
                 password: str | None = None, page_size: int = 2, inclusive: bool = False,
                 next_links: bool = True, sort: bool = True, honour_cursor: bool = True) -> None:
        self.path = path
        self.cursor_field = cursor_field
        self.cursor_param = cursor_param
        self.token = token
        self.username = username
        self.password = password
        self.page_size = page_size
        self.inclusive = inclusive
        self.next_links = next_links
        #: False serves records in insertion order (an ERP that ignores the sort).
        self.sort = sort
        #: False ignores the cursor parameter (an ERP that ignores the filter).
        self.honour_cursor = honour_cursor
        self._records: dict[Any, dict[str, Any]] = {}
        for record in records:
            self.upsert(record)
        #: The query of every request that passed authentication.
        self.requests: list[dict[str, str]] = []
        #: Set to force the ``next`` link of every page (e.g. to another host).
        self.next_override: str | None = None
        self._failures: deque[int] = deque()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    def upsert(self, record: dict[str, Any]) -> None:
        """Add a record, or replace the one with the same ``id`` (a new version of it)."""
        self._records[record["id"]] = record

    def fail(self, status: int, times: int = 1) -> None:
        """Answer the next ``times`` requests with HTTP ``status``."""
        self._failures.extend([status] * times)

    def matching(self, cursor: str | None) -> list[dict[str, Any]]:
        """The records a request with ``cursor`` selects, in the order they are served."""
        def after(record: dict[str, Any]) -> bool:
            if cursor is None or not self.honour_cursor:
                return True
            value = str(record[self.cursor_field])
            return value >= cursor if self.inclusive else value > cursor

        chosen = [r for r in self._records.values() if after(r)]
        if not self.sort:
            return chosen
        return sorted(chosen, key=lambda r: (str(r[self.cursor_field]), r["id"]))

    # -- server lifecycle --------------------------------------------------------------------
    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application()
        app.router.add_get(self.path, self._list)
        return app

    async def start(self) -> str:
        """Listen on a free 127.0.0.1 port; returns (and sets) ``base_url``."""
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self.base_url

    async def close(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeErp:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- the endpoint ------------------------------------------------------------------------
    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if self.token is not None:
            return header == f"Bearer {self.token}"
        expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return header == f"Basic {expected}"

    async def _list(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"error": "unauthorized"}, status=401)
        if self._failures:
            status = self._failures.popleft()
            headers = {"Retry-After": "5"} if status == 429 else None
            return web.json_response({"error": "fake failure"}, status=status, headers=headers)
        query = dict(request.query)
        self.requests.append(query)
        try:
            limit = int(query.get("limit", self.page_size))
            if "offset" in query:
                start = int(query["offset"])
            else:
                start = (int(query.get("page", "1")) - 1) * limit
        except ValueError:
            return web.json_response({"error": "bad paging parameters"}, status=400)
        records = self.matching(query.get(self.cursor_param))
        page = records[start:start + limit]
        next_link = None
        if self.next_override is not None:
            next_link = self.next_override
        elif self.next_links and start + limit < len(records):
            following = {k: v for k, v in query.items() if k not in ("offset", "page")}
            following.update(page=str(start // limit + 2), limit=str(limit))
            next_link = f"{self.path}?{urlencode(following)}"
        return web.json_response({"length": len(records), "records": page, "next": next_link})
