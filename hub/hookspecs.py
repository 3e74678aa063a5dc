"""The plugin contract: every hook a Returnhub plugin may implement.

A plugin is an ordinary Python package with an entry point in the ``returnhub`` group::

    [project.entry-points.returnhub]
    my_connector = "my_package.plugin"

and a module that sets ``RETURNHUB_API = ">=1.0,<2"`` (the plugin API versions it works with,
checked at load) and implements some of the hooks below with :data:`hub.contract.hookimpl`.
Hooks are only ever extended with new arguments, never renamed, so a plugin may accept just
the arguments it uses.

Every hook is called through pluggy, in pluggy's order: ``tryfirst`` implementations first,
then the later-registered plugin before the earlier one, ``trylast`` ones last; wrappers
(``wrapper=True`` or ``hookwrapper=True``) run around the call. pluggy calls implementations
synchronously: an ``async def`` implementation (allowed for :func:`returnhub_startup` and
:func:`returnhub_shutdown` only) returns a coroutine, and the core awaits the coroutines one
after another in that same order, after the call (so a wrapper sees the coroutines, not yet
awaited). Where results are merged, the implementation called first wins a clash.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from aiohttp import web

    from hub.connectors import Connector

hookspec = pluggy.HookspecMarker("returnhub")


@hookspec
def returnhub_register_connectors(register: Callable[[type[Connector]], None]) -> None:
    """Register connector types (sources and sinks) this plugin provides.

    Call ``register(cls)`` once per class; ``cls`` derives from :class:`hub.contract.Source`
    or :class:`hub.contract.Sink` and sets ``type`` (the config value that selects it) and
    ``Config`` (its settings model); the class is checked first (:mod:`hub.connector_checks`).
    Registering a ``type`` that another plugin already registered is a
    start-up error naming both plugins.

    :param register: the callback that records a connector class.

    Called once at start-up for every plugin. Must not do I/O.
    """


@hookspec
def returnhub_template_context(stage: str, channel: str, context: dict[str, Any]) -> dict | None:
    """Add values to the context every message template is rendered with.

    Return a dict to merge into the context, or None. A plugin's value replaces the core's
    value of the same key. On a clash between plugins the implementation pluggy calls first
    wins: a ``tryfirst`` one, else the plugin registered later; a ``trylast`` one loses. Must
    not change ``context`` in place and must not do I/O: it runs once per rendered message.

    :param stage: the notification stage, e.g. ``"approved"``.
    :param channel: ``"email"``, ``"sms"``, ``"portal"``, ...
    :param context: the context built so far (read-only by convention).
    """


@hookspec
def returnhub_template_filters() -> dict[str, Callable[..., Any]] | None:
    """Return Jinja2 filters to add to the template environment, keyed by name.

    Called once when the environment is built. Filters run inside the sandbox and must be pure.
    A plugin's filter replaces a built-in one of the same name; on a clash between plugins the
    implementation pluggy calls first wins (as for :func:`returnhub_template_context`).
    """


@hookspec
def returnhub_add_routes(app: web.Application) -> None:
    """Add aiohttp routes to the hub's web application (e.g. a connector's OAuth callback).

    Called once while the application is built, before it starts. Routes must live under a
    path prefix named after the plugin, and must check their own authentication.
    """


@hookspec
def returnhub_startup(settings: Any) -> None:
    """Observe hub start-up, after configuration is valid and before traffic is served.

    :param settings: the validated :class:`hub.config.Settings` (read-only).

    May be ``async def``: the core awaits the coroutines one after another, in pluggy's order.
    A failure (raised, or raised when awaited) stops the start-up with an error naming the
    plugin; the hub shuts down again (so :func:`returnhub_shutdown` runs).
    """


@hookspec
def returnhub_shutdown() -> None:
    """Observe hub shut-down, after requests stopped and sends in flight finished, before
    connectors are closed. Release what :func:`returnhub_startup` opened.

    May be ``async def``: the core awaits the coroutines one after another, in pluggy's order.
    Failures are logged with the plugin's name and the other coroutines still run; a
    synchronous implementation that raises ends pluggy's call, so the implementations after
    it do not run: catch your own errors there.
    """
