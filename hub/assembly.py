"""Turn validated settings plus the plugins' connector types into connector specs.

Every problem is collected and reported at once, each with its config path, e.g.
``sinks.mail.api_key: field required`` or ``sources.shop.type: unknown type 'shopfy'
(installed: file, shopify, ...)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import ValidationError

from hub.config import (
    PROVIDER_POLICY_KEYS,
    SOURCE_POLICY_KEYS,
    ConfigError,
    ProviderPolicy,
    SourcePolicy,
    format_validation_errors,
    read_secret_files,
)
from hub.config_routing import route_provider_lists
from hub.logs import mask_secrets_of
from hub.recipients import declaration_problems

if TYPE_CHECKING:
    from hub.config import Settings
    from hub.connectors import Connector, ConnectorSettings
    from hub.plugins import ConnectorRegistry


@dataclass(slots=True)
class ConnectorSpec:
    """One configured connector instance, its class and its validated settings."""

    name: str
    kind: str  # "sources" or "sinks"
    cls: type[Connector]
    config: ConnectorSettings
    #: Rate limit and breaker settings (sinks), polling interval (sources).
    policy: ProviderPolicy | SourcePolicy | None = None


def validate_connectors(settings: Settings, registry: ConnectorRegistry
                        ) -> dict[str, ConnectorSpec]:
    """Validate every ``[sources.*]`` and ``[sinks.*]`` section; raise ConfigError with all
    problems. Source and sink names share one namespace (they share ``/webhooks/<name>``)."""
    specs: dict[str, ConnectorSpec] = {}
    problems: list[str] = []
    for kind, sections, known in (("sources", settings.sources, registry.sources),
                                  ("sinks", settings.sinks, registry.sinks)):
        for name, raw in sections.items():
            path = f"{kind}.{name}"
            if name in specs:
                problems.append(f"{path}: the name is already used by {specs[name].kind}.{name}")
                continue
            if not isinstance(raw, dict):
                problems.append(f"{path}: must be a table with a `type`")
                continue
            body = dict(raw)
            type_name = body.pop("type", None)
            if type_name is None:
                problems.append(f"{path}.type: field required (installed: "
                                f"{', '.join(sorted(known)) or 'none'})")
                continue
            cls = known.get(type_name)
            if cls is None:
                problems.append(f"{path}.type: unknown {kind[:-1]} type {type_name!r} (installed: "
                                f"{', '.join(sorted(known)) or 'none'})")
                continue
            policy_model, policy_fields = (
                (ProviderPolicy, PROVIDER_POLICY_KEYS) if kind == "sinks"
                else (SourcePolicy, SOURCE_POLICY_KEYS))
            policy = None
            try:
                policy = policy_model.model_validate(
                    {k: body.pop(k) for k in list(body) if k in policy_fields})
            except ValidationError as exc:
                problems.extend(format_validation_errors(exc, prefix=path))
            body, file_problems = read_secret_files(body)
            problems.extend(f"{path}.{p}" for p in file_problems)
            try:
                config = cls.Config.model_validate(body)
            except ValidationError as exc:
                problems.extend(format_validation_errors(exc, prefix=path))
                continue
            except Exception as exc:  # a validator's bug in the plugin: name it, go on
                problems.append(f"{path}: the settings of {type_name!r} ({cls.__name__}."
                                f"Config) could not be checked: a validator raised "
                                f"{type(exc).__name__}")
                continue
            mask_secrets_of(config)
            if kind == "sinks":
                problems.extend(declaration_problems(path, cls))
            specs[name] = ConnectorSpec(name=name, kind=kind, cls=cls, config=config,
                                        policy=policy)
    problems.extend(former_name_problems(specs))
    for channel, route in settings.channels.items():
        for path, providers in route_provider_lists(channel, route):
            for provider in providers:
                spec = specs.get(provider)
                if spec is not None and channel not in getattr(spec.cls, "channels", ()):
                    problems.append(f"{path}: sink {provider!r} "
                                    f"({spec.cls.type}) cannot deliver on {channel!r}")
    if problems:
        raise ConfigError(problems)
    return specs


def former_names(specs: dict[str, ConnectorSpec]) -> dict[str, str]:
    """Each former name of a sink (``formerly``) -> the sink's name now."""
    return {former: name for name, spec in specs.items()
            if isinstance(spec.policy, ProviderPolicy) for former in spec.policy.formerly}


def former_name_problems(specs: dict[str, ConnectorSpec]) -> list[str]:
    """A former name that is another connector's name now, or two sinks' former name."""
    problems, seen = [], {}
    for name, spec in specs.items():
        if not isinstance(spec.policy, ProviderPolicy):
            continue
        for former in spec.policy.formerly:
            if former in specs:
                problems.append(f"sinks.{name}.formerly: {former!r} is the name of a "
                                "connector now")
            elif former in seen and seen[former] != name:
                problems.append(f"sinks.{name}.formerly: {former!r} is also a former name of "
                                f"sinks.{seen[former]}")
            seen[former] = name
    return problems
