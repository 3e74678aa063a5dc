"""Results of other components (rules, template preview) as plain JSON objects."""

from __future__ import annotations

import dataclasses
from typing import Any

from pydantic import BaseModel


def plain(value: Any) -> dict[str, Any]:
    """``value`` as a JSON-ready dict: a dict as is, a pydantic model or dataclass dumped,
    anything else under ``result``."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if not isinstance(value, dict):
        value = {"result": value}
    return _json_ready(value)


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_json_ready(v) for v in value]
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _json_ready(dataclasses.asdict(value))
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
