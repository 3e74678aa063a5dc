"""Dotted JSON paths (``rma.lines.0.sku``), as admins write them in ``[sources.x.mapping]``."""

from __future__ import annotations

import re
from typing import Any

_INDEX = re.compile(r"-?\d+")


def lookup(document: Any, path: str | None) -> Any:
    """The value at ``path`` in ``document``; None when any step is missing.

    Segments are object keys, or array indexes when the segment is an integer (negative
    counts from the end). An empty path is the document itself. A JSON ``false`` counts as
    absent: Odoo writes ``false`` for every empty field.
    """
    if path is None:
        return None
    value = document
    for segment in path.split(".") if path else ():
        if isinstance(value, dict):
            value = value.get(segment)
        elif isinstance(value, list) and _INDEX.fullmatch(segment):
            index = int(segment)
            value = value[index] if -len(value) <= index < len(value) else None
        else:
            return None
        if value is None:
            return None
    return None if value is False else value
