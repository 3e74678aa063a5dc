"""A fake ERP REST endpoint serving return authorizations (RMA records), for tests.

``GET {path}?{cursor_param}=<cursor>&page=N&limit=M`` (or ``offset=``) answers
``{"length": <matching records>, "records": [...], "next": <relative URL or null>}`` with the
records whose cursor field is after the cursor (``inclusive=True``: at or after), oldest first
(ties by ``id``); ``sort=False`` and ``honour_cursor=False`` imitate ERPs that ignore the
order or the filter. It checks a bearer token or basic credentials (401 otherwise), keeps the
query of every request it served in ``requests``, and lets a test change records between polls
(:meth:`FakeErp.upsert`) as the ERP's users would. HTTP faults (``fail_next``,
``rate_limit_next``, ``set_latency``, ``go_silent``) come from
:class:`~hub.testing.fakes_common.FakeProvider`.

    async with FakeErp(load("erp/odoo_rma_page.json")["records"], cursor_field="write_date") as erp:
        ...  # point the source's base_url at erp.url

Run alone: ``python -m hub.testing.fake_erp --records page.json --cursor-field write_date``.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
from aiohttp import web

from hub.testing.fakes_common import FakeProvider, base_argument_parser, run_fake


class FakeErp(FakeProvider):
    """An in-memory RMA list endpoint on 127.0.0.1 (see the module docstring)."""

    provider = "erp"

    def __init__(self, records: Iterable[dict[str, Any]] = (), *, path: str = "/api/rma",
                 cursor_field: str = "updated_at", cursor_param: str = "updated_since",
                 token: str | None = "erp-api-token",  # noqa: S107 - the fake's test token
                 username: str | None = None,
                 password: str | None = None, page_size: int = 2, inclusive: bool = False,
                 next_links: bool = True, sort: bool = True, honour_cursor: bool = True,
                 host: str = "127.0.0.1", port: int = 0,
                 record_path: str | Path | None = None) -> None:
        super().__init__(host=host, port=port, record_path=record_path)
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
        #: Set to force the ``next`` link of every page (e.g. to another host).
        self.next_override: str | None = None
        self._rmas: dict[Any, dict[str, Any]] = {}
        for record in records:
            self.upsert(record)

    @property
    def requests(self) -> list[dict[str, str]]:
        """The query of every request served, oldest first."""
        return [r["query"] for r in self.records]

    def upsert(self, record: dict[str, Any]) -> None:
        """Add a record, or replace the one with the same ``id`` (a new version of it)."""
        self._rmas[record["id"]] = record

    def matching(self, cursor: str | None) -> list[dict[str, Any]]:
        """The records a request with ``cursor`` selects, in the order they are served."""

        def after(record: dict[str, Any]) -> bool:
            if cursor is None or not self.honour_cursor:
                return True
            value = str(record[self.cursor_field])
            return value >= cursor if self.inclusive else value > cursor

        chosen = [r for r in self._rmas.values() if after(r)]
        if not self.sort:
            return chosen
        return sorted(chosen, key=lambda r: (str(r[self.cursor_field]), r["id"]))

    def add_routes(self, app: web.Application) -> None:
        """The RMA list endpoint."""
        app.router.add_get(self.path, self._list)

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if self.token is not None:
            return header == f"Bearer {self.token}"
        expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return header == f"Basic {expected}"

    async def _list(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"error": "unauthorized"}, status=401)
        query = dict(request.query)
        try:
            limit = int(query.get("limit", self.page_size))
            if "offset" in query:
                start = int(query["offset"])
            else:
                start = (int(query.get("page", "1")) - 1) * limit
        except ValueError:
            return web.json_response({"error": "bad paging parameters"}, status=400)
        self.record({"query": query})
        records = self.matching(query.get(self.cursor_param))
        page = records[start:start + limit]
        next_link = self.next_override
        if next_link is None and self.next_links and start + limit < len(records):
            following = {k: v for k, v in query.items() if k not in ("offset", "page")}
            following.update(page=str(start // limit + 2), limit=str(limit))
            next_link = f"{self.path}?{urlencode(following)}"
        return web.json_response({"length": len(records), "records": page, "next": next_link})


def main() -> None:
    """``python -m hub.testing.fake_erp``: serve RMA records from a JSON file until interrupted."""
    parser = base_argument_parser("Fake ERP RMA endpoint")
    parser.add_argument("--records", required=True, metavar="PATH",
                        help="a JSON file: an array of records, or an object with `records`")
    parser.add_argument("--cursor-field", default="updated_at")
    parser.add_argument("--token", default="erp-api-token")
    args = parser.parse_args()
    loaded = orjson.loads(Path(args.records).read_bytes())
    records = loaded["records"] if isinstance(loaded, dict) else loaded
    fake = FakeErp(records, cursor_field=args.cursor_field, token=args.token, host=args.host,
                   port=args.port, record_path=args.record)
    run_fake(fake, args.latency)


if __name__ == "__main__":
    main()
