"""A connector's own key-value state: ``await context.state.get(key)``, ``set``, ``delete`` and
``compare_and_set``.

Plugins keep cursors, tokens and similar small values here instead of in the hub's database
(which they never see). Inside a running hub the store is :class:`hub.store.plugin_state.
DatabaseState`: one namespace per connector instance, values encrypted at rest. A context made
outside a hub (tests, tools) gets a :class:`MemoryState` with the same rules.

Keys are short printable strings; values are anything JSON can hold (None is not a value:
delete the key instead). Values are copied in and out, so changing a returned dict changes
nothing stored.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from hub.errors import TransientError

#: Longest key, in characters.
MAX_KEY_LENGTH = 200
#: Largest value, as UTF-8 JSON. State is for cursors and tokens, not for data.
MAX_VALUE_BYTES = 64 * 1024


class StateError(ValueError):
    """A key or value the state store cannot hold; the message names the problem."""


class StateUnavailable(TransientError):
    """The state store cannot be reached now (the database is down). A transient error: an
    ``enrich`` or ``send`` that meets it is retried later. Its text holds no statement and no
    value."""


def check_key(key: Any) -> str:
    """``key`` if it is a usable key, else :class:`StateError`."""
    if not isinstance(key, str) or not key:
        raise StateError("state key: must be a non-empty string")
    if len(key) > MAX_KEY_LENGTH:
        raise StateError(f"state key: longer than {MAX_KEY_LENGTH} characters")
    if not key.isprintable():
        raise StateError("state key: control characters are not allowed")
    return key


def encode_value(value: Any) -> str:
    """The JSON text of ``value``; :class:`StateError` if it is None, not JSON or too large."""
    if value is None:
        raise StateError("state value: None is not a value (delete the key instead)")
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise StateError(f"state value: not JSON ({type(exc).__name__})") from None
    if "\x00" in text or len(text.encode("utf-8", "surrogatepass")) > MAX_VALUE_BYTES:
        raise StateError(f"state value: NUL characters, or larger than {MAX_VALUE_BYTES} bytes")
    return text


def decode_value(text: str) -> Any:
    """The value stored as ``text``."""
    return json.loads(text)


def normalized(value: Any) -> Any:
    """``value`` as it reads back once stored (tuples become lists...), for comparisons."""
    return None if value is None else decode_value(encode_value(value))


class PluginState(Protocol):
    """What ``context.state`` offers (the contract; implementations are the core's)."""

    async def get(self, key: str, default: Any = None) -> Any:
        """The value stored under ``key``, or ``default``."""

    async def set(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key``, replacing what was there."""

    async def delete(self, key: str) -> None:
        """Forget ``key`` (nothing happens if it is not set)."""

    async def compare_and_set(self, key: str, expected: Any, value: Any) -> bool:
        """Store ``value`` only if ``key`` holds ``expected`` now (None: ``key`` is unset).
        Returns whether it did: two nodes advancing one cursor cannot both win."""


class MemoryState:
    """:class:`PluginState` in memory, for connectors made outside a running hub."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}

    async def get(self, key: str, default: Any = None) -> Any:
        """See :meth:`PluginState.get`."""
        text = self._values.get(check_key(key))
        return default if text is None else decode_value(text)

    async def set(self, key: str, value: Any) -> None:
        """See :meth:`PluginState.set`."""
        self._values[check_key(key)] = encode_value(value)

    async def delete(self, key: str) -> None:
        """See :meth:`PluginState.delete`."""
        self._values.pop(check_key(key), None)

    async def compare_and_set(self, key: str, expected: Any, value: Any) -> bool:
        """See :meth:`PluginState.compare_and_set`."""
        text = encode_value(value)
        current = self._values.get(check_key(key))
        if (None if current is None else decode_value(current)) != normalized(expected):
            return False
        self._values[key] = text
        return True
