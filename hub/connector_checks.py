"""What a connector class must have before the hub accepts it (checked when plugins load).

A class that would only fail on its first webhook or message is refused at start-up instead,
by plugin, class and ``type``:

- every connector: a ``type`` name and a ``Config`` that is a pydantic model refusing unknown
  keys (``extra="forbid"``, as :class:`~hub.connectors.ConnectorSettings` does), with no field
  the core reads itself (``type``, the policy keys such as ``rate_limit_per_second``) or that
  the ``<key>_file`` secret convention would shadow;
- a :class:`~hub.connectors.Source` that accepts webhooks: ``verify`` and ``parse``; one that
  does not: ``poll``;
- a :class:`~hub.connectors.Sink`: ``send`` and at least one channel; ``verify_status`` and
  ``parse_status`` together or neither (a status webhook is never accepted unsigned);
- the methods the core awaits are ``async def``.
"""

from __future__ import annotations

import inspect
from typing import Any

from pydantic import BaseModel

from hub.config import PROVIDER_POLICY_KEYS, SOURCE_POLICY_KEYS
from hub.connectors import Connector, Sink, Source

#: Methods the core awaits, so a plain ``def`` would fail on first use.
AWAITED = ("start", "close", "health", "verify", "parse", "enrich", "act", "send", "reconcile",
           "verify_status", "parse_status")


def class_problems(cls: type[Connector]) -> list[str]:
    """Every reason the hub cannot use ``cls``, as short phrases (empty: usable)."""
    problems: list[str] = []
    type_name = getattr(cls, "type", None)
    if not isinstance(type_name, str) or not type_name:
        problems.append("has no `type` name")
    if issubclass(cls, Source):
        if cls.accepts_webhooks:
            problems += _missing(cls, Source, ("verify", "parse"), "a source accepting webhooks")
        else:
            problems += _missing(cls, Source, ("poll",), "a source without webhooks")
        problems += _settings_problems(cls.Config, SOURCE_POLICY_KEYS)
    elif issubclass(cls, Sink):
        problems += _missing(cls, Sink, ("send",), "a sink")
        channels = cls.channels
        if (not isinstance(channels, frozenset | set) or not channels
                or not all(isinstance(c, str) and c for c in channels)):
            problems.append("must declare its channels as a non-empty set of names "
                            "(`channels = frozenset({\"email\"})`)")
        status = [m for m in ("verify_status", "parse_status") if _overrides(cls, Sink, m)]
        if len(status) == 1:
            other = ({"verify_status", "parse_status"} - set(status)).pop()
            problems.append(f"implements {status[0]} without {other}")
        problems += _settings_problems(cls.Config, PROVIDER_POLICY_KEYS)
    else:
        return ["is neither a Source nor a Sink"]
    problems += [f"{name} must be `async def`" for name in AWAITED
                 if hasattr(cls, name) and not _is_async(cls, name)]
    return problems


def _overrides(cls: type, base: type, name: str) -> bool:
    return getattr(cls, name, None) is not getattr(base, name, None)


def _missing(cls: type, base: type, names: tuple[str, ...], what: str) -> list[str]:
    return [f"does not implement {name} (required of {what})" for name in names
            if not _overrides(cls, base, name)]


def _is_async(cls: type, name: str) -> bool:
    method = inspect.getattr_static(cls, name)
    if isinstance(method, staticmethod | classmethod):
        method = method.__func__
    return inspect.iscoroutinefunction(method)


def _settings_problems(model: Any, policy_keys: frozenset[str]) -> list[str]:
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return ["Config is not a pydantic model (derive it from ConnectorSettings)"]
    problems = []
    if model.model_config.get("extra") != "forbid":
        problems.append(f"{model.__name__} must refuse unknown keys (extra='forbid'; derive it "
                        "from ConnectorSettings) so a misspelled key is an error")
    for field in model.model_fields:
        if field == "type" or field in policy_keys:
            problems.append(f"{model.__name__}.{field}: the core reads this key itself")
        elif field.endswith("_file"):
            problems.append(f"{model.__name__}.{field}: a key ending in _file is read as a "
                            f"secret file for {field.removesuffix('_file')!r}")
    return problems
