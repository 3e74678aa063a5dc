"""The plugin manager: bundled and third-party plugins load through the same entry points."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import ModuleType

import pluggy

from hub import hookspecs
from hub.connectors import Connector, Sink, Source

#: The entry-point group (and pluggy project name) every plugin registers under.
ENTRY_POINT_GROUP = "returnhub"

#: Core code registered as plugins (name -> module), like the bundled ones but from ``hub/``.
INTERNAL_PLUGINS = {"portal": "hub.portal.plugin"}


class PluginError(Exception):
    """A plugin failed to load or registered something invalid."""


@dataclass(slots=True)
class PluginInfo:
    """One loaded plugin, for ``returnhub plugins`` and the admin API."""

    name: str
    distribution: str | None
    version: str | None
    connectors: list[str] = field(default_factory=list)


def get_plugin_manager(
    *, disabled: Iterable[str] = (), extra_plugins: Iterable[ModuleType | object] = (),
    load_entry_points: bool = True,
) -> pluggy.PluginManager:
    """Build a fresh plugin manager.

    :param disabled: entry-point names not to load (``plugins.disabled`` in config).
    :param extra_plugins: plugin objects registered directly (tests).
    :param load_entry_points: False gives a manager with only ``extra_plugins`` (no internal,
        bundled or installed plugin).
    """
    pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
    pm.add_hookspecs(hookspecs)
    blocked = set(disabled)
    for name in blocked:
        pm.set_blocked(name)
    if load_entry_points:
        for name, module in INTERNAL_PLUGINS.items():
            if name not in blocked:
                pm.register(importlib.import_module(module), name=name)
        try:
            # Skips blocked names and records each plugin's distribution for describe_plugins().
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        except Exception as exc:  # a broken third-party package must name itself
            raise PluginError(f"a plugin failed to load: {exc!r}") from exc
    for plugin in extra_plugins:
        pm.register(plugin)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(str(exc)) from exc
    return pm


@dataclass(slots=True)
class ConnectorRegistry:
    """Connector classes by ``type``, and which plugin registered each."""

    sources: dict[str, type[Source]] = field(default_factory=dict)
    sinks: dict[str, type[Sink]] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)

    def types(self) -> list[str]:
        """Every registered type name, sorted."""
        return sorted([*self.sources, *self.sinks])


def collect_connectors(pm: pluggy.PluginManager) -> ConnectorRegistry:
    """Call every plugin's ``returnhub_register_connectors`` and index what they register."""
    registry = ConnectorRegistry()
    for impl in pm.hook.returnhub_register_connectors.get_hookimpls():
        plugin_name = impl.plugin_name

        def register(cls: type[Connector], _owner: str = plugin_name) -> None:
            _add(registry, cls, _owner)

        impl.function(register=register)
    return registry


def _add(registry: ConnectorRegistry, cls: type[Connector], owner: str) -> None:
    type_name = getattr(cls, "type", None)
    if not isinstance(type_name, str) or not type_name:
        raise PluginError(f"plugin {owner!r} registered {cls.__name__} without a `type` name")
    if type_name in registry.owners:
        raise PluginError(
            f"connector type {type_name!r} is registered by both {registry.owners[type_name]!r} "
            f"and {owner!r}; disable one of them in plugins.disabled"
        )
    if issubclass(cls, Source):
        registry.sources[type_name] = cls
    elif issubclass(cls, Sink):
        if not cls.channels:
            raise PluginError(f"sink {cls.__name__} from {owner!r} declares no channels")
        registry.sinks[type_name] = cls
    else:
        raise PluginError(f"{cls.__name__} from {owner!r} is neither a Source nor a Sink")
    registry.owners[type_name] = owner


def describe_plugins(pm: pluggy.PluginManager) -> list[PluginInfo]:
    """Plugins with their distribution, version and the connector types each provides."""
    registry = collect_connectors(pm)
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    infos = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda pair: pair[0]):
        if plugin is None:  # blocked (disabled in config)
            continue
        dist = dists.get(id(plugin))
        infos.append(PluginInfo(
            name=name,
            distribution=dist.metadata["Name"] if dist else None,
            version=dist.version if dist else None,
            connectors=sorted(t for t, owner in registry.owners.items() if owner == name),
        ))
    return infos
