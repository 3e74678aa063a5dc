"""Comparing polling cursors: numbers as numbers, timestamps as instants, else as text."""

from __future__ import annotations

from typing import Any

from hub.contract import RequestRejected, decimal, timestamp


def _key(value: str) -> tuple[int, Any]:
    try:
        return 0, decimal(value, "cursor")
    except RequestRejected:
        pass
    try:
        return 1, timestamp(value, "cursor")
    except RequestRejected:
        return 2, value


def is_before(value: str, other: str) -> bool:
    """Whether cursor ``value`` comes strictly before ``other`` (False when incomparable)."""
    kind, key = _key(value)
    other_kind, other_key = _key(other)
    return kind == other_kind and key < other_key


def latest(value: str, other: str | None) -> str:
    """The later of two cursors (``value`` when incomparable or ``other`` is None)."""
    if other is not None and is_before(value, other):
        return other
    return value
