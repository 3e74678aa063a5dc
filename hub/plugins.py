"""The plugin manager: bundled and third-party plugins load through the same entry points."""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import ModuleType

import pluggy

from hub import hookspecs
from hub.connector_checks import class_problems
from hub.connectors import Connector, Sink, Source
from hub.plugin_api import api_problem

#: The entry-point group (and pluggy project name) every plugin registers under.
ENTRY_POINT_GROUP = "returnhub"

#: The hooks whose implementations may be ``async def`` (the core awaits what they return).
ASYNC_HOOKS = frozenset({"returnhub_startup", "returnhub_shutdown"})

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
        owners = entry_point_owners()
        _check_unique_names(owners, blocked)
        for name, module in INTERNAL_PLUGINS.items():
            if name not in blocked:
                pm.register(importlib.import_module(module), name=name)
        try:
            # Skips blocked names and records each plugin's distribution for describe_plugins().
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        except Exception as exc:  # a broken third-party package must name itself
            name = next((n for n in owners if n not in blocked and not pm.has_plugin(n)), "?")
            raise PluginError(
                f"plugin {name!r} ({', '.join(owners.get(name, ['?']))}) failed to load: "
                f"{exc!r}; plugins.disabled = [{name!r}] starts the hub without it") from exc
    for plugin in extra_plugins:
        pm.register(plugin)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(str(exc)) from exc
    _check_api_versions(pm)
    _check_sync_hooks(pm)
    return pm


def entry_point_owners() -> dict[str, list[str]]:
    """Every plugin name (entry point of the ``returnhub`` group) and the distributions that
    declare it, in the order pluggy finds them (a distribution found twice on the path once)."""
    owners: dict[str, list[str]] = {}
    for dist in importlib.metadata.distributions():
        for ep in dist.entry_points:
            if ep.group == ENTRY_POINT_GROUP:
                found = owners.setdefault(ep.name, [])
                dist_name = dist.metadata["Name"] or "?"
                if dist_name.lower().replace("_", "-") not in (
                        known.lower().replace("_", "-") for known in found):
                    found.append(dist_name)
    return owners


def _check_unique_names(owners: dict[str, list[str]], blocked: set[str]) -> None:
    """Refuse a plugin name two distributions declare, or one that is the hub's own: pluggy
    loads the first it finds and skips the other without a word, so which one runs would
    depend on the order of the path."""
    problems = []
    for name, dists in sorted(owners.items()):
        if name in blocked:
            continue
        if name in INTERNAL_PLUGINS:
            problems.append(f"plugin name {name!r} of {', '.join(dists)} is the hub's own "
                            f"{name!r} plugin: rename its entry point")
        elif len(dists) > 1:
            both = " and ".join(sorted(dists))
            problems.append(f"plugin name {name!r} is declared by both {both}: rename one "
                            "entry point, or uninstall one of them")
    if problems:
        raise PluginError("; ".join(problems))


def _check_sync_hooks(pm: pluggy.PluginManager) -> None:
    """Refuse an ``async def`` implementation of a hook the core does not await."""
    problems = [
        f"plugin {impl.plugin_name!r}: {name} must not be `async def` (only "
        f"{' and '.join(sorted(ASYNC_HOOKS))} may be)"
        for name in sorted(vars(pm.hook))
        if name.startswith("returnhub_") and name not in ASYNC_HOOKS
        for impl in getattr(pm.hook, name).get_hookimpls()
        if not (impl.hookwrapper or impl.wrapper)
        and inspect.iscoroutinefunction(impl.function)]
    if problems:
        raise PluginError("; ".join(problems))


def _check_api_versions(pm: pluggy.PluginManager) -> None:
    """Refuse, all at once, plugins whose declared API range excludes this hub's version."""
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    problems = [
        problem for name, plugin in pm.list_name_plugin()
        if plugin is not None
        and (problem := api_problem(name, plugin, dists.get(id(plugin)),
                                    required=id(plugin) in dists or name in INTERNAL_PLUGINS))
        is not None]
    if problems:
        raise PluginError("; ".join(problems))


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
    """Call every plugin's ``returnhub_register_connectors`` and index what they register.

    Raises :class:`PluginError` listing every class the hub cannot use
    (:mod:`hub.connector_checks`) and every ``type`` two plugins both register."""
    registry = ConnectorRegistry()
    problems: list[str] = []
    for impl in pm.hook.returnhub_register_connectors.get_hookimpls():
        plugin_name = impl.plugin_name
        if impl.hookwrapper or impl.wrapper:  # wraps the others' calls: it registers nothing
            continue

        def register(cls: type[Connector], _owner: str = plugin_name) -> None:
            problems.extend(_add(registry, cls, _owner))

        # Called per plugin, so that what each registers is known to be its own; with only
        # the arguments it declares, as pluggy would call it.
        arguments = {"register": register}
        try:
            impl.function(*(arguments[name] for name in impl.argnames))
        except Exception as exc:
            problems.append(f"plugin {plugin_name!r}: returnhub_register_connectors raised "
                            f"{type(exc).__name__}: {exc}")
    if problems:
        raise PluginError("; ".join(problems))
    return registry


def _add(registry: ConnectorRegistry, cls: type[Connector], owner: str) -> list[str]:
    if not (isinstance(cls, type) and issubclass(cls, Source | Sink)):
        return [f"plugin {owner!r} registered {cls!r}, which is neither a Source nor a Sink"]
    type_name = getattr(cls, "type", None)
    kind = "source" if issubclass(cls, Source) else "sink"
    problems = class_problems(cls)
    if problems:
        named = f" (type {type_name!r})" if isinstance(type_name, str) and type_name else ""
        return [f"plugin {owner!r}: {kind} {cls.__name__}{named} {p}" for p in problems]
    if type_name in registry.owners:
        return [f"connector type {type_name!r} is registered by both "
                f"{registry.owners[type_name]!r} and {owner!r}; disable one of them in "
                "plugins.disabled"]
    (registry.sources if kind == "source" else registry.sinks)[type_name] = cls
    registry.owners[type_name] = owner
    return []


def describe_plugins(pm: pluggy.PluginManager) -> list[PluginInfo]:
    """Plugins with their distribution, version and the connector types each provides."""
    registry = collect_connectors(pm)
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    infos = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda pair: pair[0]):
        if plugin is None:  # blocked (disabled in config)
            continue
        dist = dists.get(id(plugin))
        if dist is None and name in INTERNAL_PLUGINS:
            dist = _own_distribution()
        infos.append(PluginInfo(
            name=name,
            distribution=dist.metadata["Name"] if dist else None,
            version=dist.version if dist else None,
            connectors=sorted(t for t, owner in registry.owners.items() if owner == name),
        ))
    return infos


def _own_distribution() -> importlib.metadata.Distribution | None:
    """The hub's own distribution (internal plugins ship in it)."""
    try:
        return importlib.metadata.distribution("returnhub")
    except importlib.metadata.PackageNotFoundError:
        return None
