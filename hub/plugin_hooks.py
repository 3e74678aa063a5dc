"""The async lifecycle hooks (``returnhub_startup``, ``returnhub_shutdown``), called through
pluggy so that ``tryfirst``/``trylast`` and wrappers hold.

pluggy calls implementations synchronously, in its order (``tryfirst`` ones first, then the
later-registered before the earlier, ``trylast`` ones last); an ``async def`` implementation
returns a coroutine, which lands in the hook's result list. The core then awaits those results
one after another, in that same order. A wrapper sees (and may change) the list of coroutines
before any is awaited.

Start-up fails fast: a plugin whose start-up hook raises stops the hub from starting, named.
Shut-down is best effort: every failure is logged, named, and the other coroutines still run
(a synchronous implementation that raises ends pluggy's call, so the ones after it in pluggy's
order do not run: catch your own errors in a synchronous shut-down hook).
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from hub.logs import get_logger
from hub.plugins import PluginError
from hub.store.failures import safe_error

if TYPE_CHECKING:
    from types import FrameType, TracebackType

    import pluggy

log = get_logger("hub.plugins")


async def run_startup(pm: pluggy.PluginManager, settings: Any) -> None:
    """Call ``returnhub_startup`` and await what it returned; raise :class:`PluginError`
    naming the plugin whose hook failed."""
    hook = pm.hook.returnhub_startup
    try:
        results = hook(settings=settings)
    except Exception as exc:
        raise PluginError(_failure("returnhub_startup", _raiser(hook, exc), exc)) from exc
    pending = list(results)
    while pending:
        result = pending.pop(0)
        if not inspect.isawaitable(result):
            continue
        owner = _owner(hook, result)
        try:
            await result
        except Exception as exc:
            for rest in pending:  # never awaited: close them so none is left dangling
                if inspect.iscoroutine(rest):
                    rest.close()
            raise PluginError(_failure("returnhub_startup", owner, exc)) from exc


async def run_shutdown(pm: pluggy.PluginManager) -> None:
    """Call ``returnhub_shutdown`` and await every result; failures are logged, not raised."""
    hook = pm.hook.returnhub_shutdown
    try:
        results = hook()
    except Exception as exc:
        log.error("plugin_hook_failed", hook="returnhub_shutdown",
                  plugin=_raiser(hook, exc), error=safe_error(exc))
        return
    for result in results:
        if not inspect.isawaitable(result):
            continue
        owner = _owner(hook, result)
        try:
            await result
        except Exception as exc:
            log.error("plugin_hook_failed", hook="returnhub_shutdown", plugin=owner,
                      error=safe_error(exc))


def _failure(hook_name: str, plugin: str | None, exc: Exception) -> str:
    return f"{hook_name} of plugin {plugin or '(unknown)'!r} failed: {safe_error(exc)}"


def _plugin_of(hook: pluggy.HookCaller, code: object, frame: FrameType | None) -> str | None:
    """The plugin whose implementation runs ``code`` (in ``frame``): by code object, and by
    the bound instance when several plugins share one class."""
    candidates = [impl for impl in hook.get_hookimpls()
                  if getattr(impl.function, "__code__", None) is code]
    if len(candidates) > 1 and frame is not None:
        bound = frame.f_locals.get("self")
        candidates = [impl for impl in candidates
                      if getattr(impl.function, "__self__", None) is bound] or candidates
    return candidates[0].plugin_name if candidates else None


def _owner(hook: pluggy.HookCaller, result: object) -> str | None:
    """The plugin whose implementation returned the (not yet awaited) coroutine ``result``."""
    return _plugin_of(hook, getattr(result, "cr_code", None), getattr(result, "cr_frame", None))


def _raiser(hook: pluggy.HookCaller, exc: BaseException) -> str | None:
    """The plugin whose implementation raised ``exc`` inside pluggy's call."""
    tb: TracebackType | None = exc.__traceback__
    found = None
    while tb is not None:
        found = _plugin_of(hook, tb.tb_frame.f_code, tb.tb_frame) or found
        tb = tb.tb_next
    return found
