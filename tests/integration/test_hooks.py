"""Every hook in hub/hookspecs.py, used by test plugins through the real plugin manager:
pluggy's order (tryfirst, later-registered, trylast) and wrappers hold for the async hooks too,
and the documented precedence of template_context and template_filters is this one (issue 14).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from structlog.testing import capture_logs

from hub.contract import hookimpl
from hub.plugins import PluginError, get_plugin_manager
from hub.runtime import Hub
from hub.templates import TemplateRenderer, TemplateRenderError
from hub.web.app import create_app
from tests.conftest import make_settings

if TYPE_CHECKING:
    from pathlib import Path

    import pluggy


def manager(*plugins: object) -> pluggy.PluginManager:
    """The hub's plugin manager (bundled plugins included) with ``plugins`` registered after
    them, in this order."""
    return get_plugin_manager(extra_plugins=plugins)


class Greeter:
    """A test plugin adding ``greeting`` to every template's context."""

    def __init__(self, name: str) -> None:
        self.__name__ = name  # the plugin name pluggy gives it

    @hookimpl
    def returnhub_template_context(self, stage: str, channel: str) -> dict[str, Any]:
        return {"greeting": f"{self.__name__} ({stage}, {channel})", "store": "Plugin Store"}


class FirstGreeter(Greeter):
    @hookimpl(tryfirst=True)
    def returnhub_template_context(self, stage: str, channel: str) -> dict[str, Any]:
        return super().returnhub_template_context(stage, channel)


class LastGreeter(Greeter):
    @hookimpl(trylast=True)
    def returnhub_template_context(self, stage: str, channel: str) -> dict[str, Any]:
        return super().returnhub_template_context(stage, channel)


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    folder = tmp_path / "templates" / "hello"
    folder.mkdir(parents=True)
    (folder / "sms.txt.j2").write_text("{{ greeting }} from {{ store }}: {{ 'hi'|shout }}")
    return folder.parent


def render(templates: Path, pm: pluggy.PluginManager) -> str:
    context = {"stage": "hello", "channel": "sms", "locale": "en-US", "store": "Core Store"}
    return TemplateRenderer(templates, pm).render("hello", "sms", context).text


class Shouter:
    """A test plugin adding the ``shout`` filter."""

    def __init__(self, name: str, suffix: str) -> None:
        self.__name__ = name
        self.suffix = suffix

    @hookimpl
    def returnhub_template_filters(self) -> dict[str, Any]:
        return {"shout": lambda value: value.upper() + self.suffix}


def test_template_context_the_later_registered_plugin_wins(templates):
    text = render(templates, manager(Greeter("early"), Greeter("late"), Shouter("s", "!")))
    # A plugin's value replaces the core's value of the same key (store).
    assert text == "late (hello, sms) from Plugin Store: HI!"


def test_template_context_tryfirst_wins_and_trylast_loses(templates):
    first, last = FirstGreeter("first"), LastGreeter("last")
    text = render(templates, manager(first, Greeter("plain"), last, Shouter("s", "!")))
    assert text.startswith("first (hello, sms)")
    text = render(templates, manager(Greeter("plain"), last, Shouter("s", "!")))
    assert text.startswith("plain (hello, sms)")


def test_a_template_context_wrapper_sees_and_changes_the_additions(templates):
    class Polite:
        __name__ = "polite"

        @hookimpl(wrapper=True)
        def returnhub_template_context(self):  # noqa: ANN201
            additions = yield
            return [{**addition, "greeting": addition["greeting"] + ", please"}
                    for addition in additions]

    text = render(templates, manager(Greeter("plain"), Polite(), Shouter("s", "!")))
    assert text.startswith("plain (hello, sms), please from")


def test_template_filters_the_later_registered_plugin_wins(templates):
    text = render(templates, manager(Greeter("g"), Shouter("quiet", "."), Shouter("loud", "!!")))
    assert text.endswith(": HI!!")


class Lifecycle:
    """A test plugin observing start-up and shut-down, recording what ran in which order."""

    def __init__(self, name: str, log: list[str], *, fail: str | None = None) -> None:
        self.__name__ = name
        self.log, self.fail = log, fail

    @hookimpl
    async def returnhub_startup(self, settings: Any) -> None:
        self.log.append(f"{self.__name__}:start")
        await asyncio.sleep(0)  # another coroutine would run here if they were not in sequence
        if self.fail == "startup":
            raise RuntimeError("cannot reach its service")
        self.log.append(f"{self.__name__}:started ({settings.server.port})")

    @hookimpl
    async def returnhub_shutdown(self) -> None:
        await asyncio.sleep(0)
        if self.fail == "shutdown":
            raise RuntimeError("cannot say goodbye")
        self.log.append(f"{self.__name__}:stopped")


class FirstLifecycle(Lifecycle):
    @hookimpl(tryfirst=True)
    async def returnhub_startup(self, settings: Any) -> None:
        await super().returnhub_startup(settings)

    @hookimpl(tryfirst=True)
    async def returnhub_shutdown(self) -> None:
        await super().returnhub_shutdown()


class LastLifecycle(Lifecycle):
    @hookimpl(trylast=True)
    async def returnhub_startup(self, settings: Any) -> None:
        await super().returnhub_startup(settings)

    @hookimpl(trylast=True)
    async def returnhub_shutdown(self) -> None:
        await super().returnhub_shutdown()


class Timing:
    """A new-style wrapper around both lifecycle hooks, and a synchronous implementation."""

    __name__ = "timing"

    def __init__(self, log: list[str]) -> None:
        self.log = log

    @hookimpl(wrapper=True)
    def returnhub_startup(self):  # noqa: ANN201
        self.log.append("timing:before")
        coroutines = yield
        self.log.append(f"timing:after ({len(coroutines)} to await)")
        return coroutines

    @hookimpl
    def returnhub_shutdown(self) -> None:
        self.log.append("timing:sync stop")


async def start(tmp_path: Path, db_url: str, *plugins: object) -> Hub:
    hub = Hub.build(make_settings(tmp_path, db_url), manager(*plugins))
    await hub.start(workers=False)
    return hub


async def test_startup_and_shutdown_run_in_pluggy_order_with_wrappers(tmp_path, db_url):
    log: list[str] = []
    plugins = (FirstLifecycle("first", log), Lifecycle("early", log), Lifecycle("late", log),
               LastLifecycle("last", log), Timing(log))
    hub = await start(tmp_path, db_url, *plugins)
    port = hub.settings.server.port
    assert log == ["timing:before", "timing:after (4 to await)",
                   "first:start", f"first:started ({port})", "late:start",
                   f"late:started ({port})", "early:start", f"early:started ({port})",
                   "last:start", f"last:started ({port})"]
    log.clear()
    await hub.stop()
    assert log == ["timing:sync stop", "first:stopped", "late:stopped", "early:stopped",
                   "last:stopped"]


async def test_a_failing_startup_hook_stops_the_start_naming_the_plugin(tmp_path, db_url):
    log: list[str] = []
    plugins = (Lifecycle("early", log), Lifecycle("broken", log, fail="startup"),
               LastLifecycle("late", log))
    with pytest.raises(PluginError, match="returnhub_startup of plugin 'broken' failed: "
                                          "RuntimeError: cannot reach its service"):
        await start(tmp_path, db_url, *plugins)
    # Not started further; what did start was shut down again.
    assert "late:start" not in log
    assert {"early:stopped", "broken:stopped", "late:stopped"} <= set(log)


async def test_a_synchronous_startup_hook_that_raises_is_named(tmp_path, db_url):
    class Sync:
        __name__ = "syncbroken"

        @hookimpl
        def returnhub_startup(self) -> None:
            raise ValueError("no")

    with pytest.raises(PluginError, match="plugin 'syncbroken' failed: ValueError: no"):
        await start(tmp_path, db_url, Sync())


async def test_a_failing_shutdown_hook_is_logged_and_the_others_still_run(tmp_path, db_url):
    log: list[str] = []
    hub = await start(tmp_path, db_url, Lifecycle("early", log),
                      Lifecycle("broken", log, fail="shutdown"))
    with capture_logs() as logs:
        await hub.stop()
    assert "early:stopped" in log
    failures = [e for e in logs if e["event"] == "plugin_hook_failed"]
    assert failures == [{"event": "plugin_hook_failed", "hook": "returnhub_shutdown",
                         "plugin": "broken", "error": "RuntimeError: cannot say goodbye",
                         "log_level": "error"}]


class Pinger:
    """A test plugin adding its own route under its own prefix."""

    __name__ = "pinger"

    @hookimpl
    def returnhub_add_routes(self, app: web.Application) -> None:
        async def ping(request: web.Request) -> web.Response:
            return web.json_response({"pong": request.query.get("n")})

        app.router.add_get("/pinger/ping", ping)


async def test_add_routes_serves_a_plugin_route_beside_the_core_ones(tmp_path, db_url):
    hub = await start(tmp_path, db_url, Pinger())
    try:
        async with TestClient(TestServer(create_app(hub))) as client:
            response = await client.get("/pinger/ping", params={"n": "1"})
            assert response.status == 200 and await response.json() == {"pong": "1"}
            assert (await client.get("/healthz")).status == 200
    finally:
        await hub.stop()


def test_an_async_implementation_of_a_hook_the_core_does_not_await_is_refused():
    class Eager:
        __name__ = "eager"

        @hookimpl
        async def returnhub_template_context(self) -> dict[str, Any]:
            return {}

    with pytest.raises(PluginError, match="plugin 'eager': returnhub_template_context must "
                                          "not be `async def`"):
        manager(Eager())


def test_a_template_context_hook_that_raises_or_returns_no_dict_is_a_render_error(templates):
    class Raising:
        __name__ = "raising"

        @hookimpl
        def returnhub_template_context(self):  # noqa: ANN201
            raise KeyError("customer-secret")

    class Listing:
        __name__ = "listing"

        @hookimpl
        def returnhub_template_context(self):  # noqa: ANN201
            return [("greeting", "hi")]

    for plugin, said in ((Raising(), "hook raised KeyError"),
                         (Listing(), "hook returned list, not a dict")):
        with pytest.raises(TemplateRenderError) as caught:
            render(templates, manager(plugin, Shouter("s", "!")))
        assert said in str(caught.value) and "secret" not in str(caught.value)
        assert caught.value.error == "PluginError"


async def test_startup_runs_before_any_worker_or_poller_starts(tmp_path, db_url):
    # Found from outside by a plugin author: pollers had stored events and the dispatcher
    # ran while a slow startup hook was still running ("before traffic", the hook says).
    seen: list[set[str]] = []

    class Watcher:
        __name__ = "watcher"

        @hookimpl
        async def returnhub_startup(self, settings: Any) -> None:
            await asyncio.sleep(0.05)  # what runs meanwhile would get its turn here
            seen.append({task.get_name() for task in asyncio.all_tasks()})

    hub = Hub.build(make_settings(tmp_path, db_url), manager(Watcher()))
    await hub.start()
    try:
        running = {task.get_name() for task in hub._tasks}
    finally:
        await hub.stop()
    assert {"inbox-processor", "dispatcher"} <= running
    assert seen and not seen[0] & running


def test_a_filters_hook_returning_no_dict_or_a_raising_routes_hook_stops_the_start(tmp_path):
    # Found from outside by a plugin author: both crashed the hub with a traceback that
    # named no hook (a ValueError from dict.update; the route's own exception).
    from hub.web.app import create_app

    class Listing:
        __name__ = "listing"

        @hookimpl
        def returnhub_template_filters(self):  # noqa: ANN201
            return [("shout", str.upper)]

    class Routes:
        __name__ = "routes"

        @hookimpl
        def returnhub_add_routes(self, app):  # noqa: ANN001, ANN201
            raise RuntimeError("no such handler")

    with pytest.raises(PluginError, match="returnhub_template_filters hook returned list"):
        TemplateRenderer(None, manager(Listing()))
    hub = Hub.build(make_settings(tmp_path), manager(Routes()))
    with pytest.raises(PluginError, match="returnhub_add_routes hook raised RuntimeError"):
        create_app(hub)
