"""CSV downloads of the dashboard's tables: RFC 4180 quoting, and cells a spreadsheet would
run as a formula (``=``, ``+``, ``-``, ``@``, tab, carriage return first) prefixed with a
quote, so an exported provider or template name can never execute in Excel or LibreOffice."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from collections.abc import Iterable

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """A value for a CSV cell: numbers as they are, None empty, text defused."""
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_text(header: list[str], rows: Iterable[list[Any]]) -> str:
    """The CSV document (CRLF line ends, fields quoted where needed)."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return out.getvalue()


def csv_response(filename: str, header: list[str], rows: Iterable[list[Any]]) -> web.Response:
    """A ``text/csv`` download named ``filename`` (a fixed, safe name chosen by the caller)."""
    response = web.Response(text=csv_text(header, rows), content_type="text/csv",
                            charset="utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
