"""Size checks run *before* an operation that could allocate a lot in one C call: the
intercepted operators, a few built-in methods and the filters (see :mod:`hub.content.sandbox`).

Each check raises :class:`~hub.content.limits.RenderLimitExceeded` naming the limit, never
the data.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

from hub.content.limits import (
    RenderLimits,
    check_int,
    check_printf_format,
    check_size,
    size_of,
    tick,
    too_big,
)

# -- operator checks -------------------------------------------------------------------------

def _sequence(value: Any) -> bool:
    return isinstance(value, str | bytes | list | tuple)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_mul(limits: RenderLimits, left: Any, right: Any) -> None:
    if _sequence(left) and _is_int(right) or _sequence(right) and _is_int(left):
        sequence, times = (left, right) if _is_int(right) else (right, left)
        if times > 0 and size_of(sequence, limits.max_value_size) * times \
                > limits.max_value_size:
            raise too_big("repeated value", limits.max_value_size)
    elif _is_int(left) and _is_int(right) \
            and left.bit_length() + right.bit_length() > limits.max_int_bits:
        raise too_big("number", f"{limits.max_int_bits} bits")


def _check_pow(limits: RenderLimits, left: Any, right: Any) -> None:
    if _is_int(left) and _is_int(right) and right > 0 and abs(left) > 1 \
            and right * left.bit_length() > limits.max_int_bits:
        raise too_big("number", f"{limits.max_int_bits} bits")


def _check_mod(limits: RenderLimits, left: Any, right: Any) -> None:
    if isinstance(left, str):
        check_printf_format(left, limits)
        check_size(right, limits, "format arguments")


def _check_add(limits: RenderLimits, left: Any, right: Any) -> None:
    if _sequence(left) or _sequence(right):
        cap = limits.max_value_size
        if size_of(left, cap) + size_of(right, cap) > cap:
            raise too_big("joined value", cap)


#: Checks of the intercepted operators, by operator.
BINOP_CHECKS: dict[str, Callable[[RenderLimits, Any, Any], None]] = {
    "*": _check_mul, "**": _check_pow, "%": _check_mod, "+": _check_add}


# -- method and filter checks ------------------------------------------------------------------

def _check_replace(limits: RenderLimits, text: Any, old: Any = "", new: Any = "",
                   count: Any = None) -> None:
    text, old, new = str(text), str(old), str(new)
    hits = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    if len(text) + hits * max(len(new) - len(old), 0) > limits.max_value_size:
        raise too_big("replaced text", limits.max_value_size)


def _check_join(limits: RenderLimits, separator: Any, items: Any = (), *_: Any,
                **__: Any) -> None:
    items = list(items) if not isinstance(items, list | tuple | str) else items
    total = size_of(items, limits.max_value_size) + len(str(separator)) * len(items)
    if total > limits.max_value_size:
        raise too_big("joined text", limits.max_value_size)


def _check_expandtabs(limits: RenderLimits, text: str, tabsize: Any = 8) -> None:
    if isinstance(tabsize, int) and len(text) + text.count("\t") * tabsize \
            > limits.max_value_size:
        raise too_big("expanded text", limits.max_value_size)


#: Checks of built-in string methods, by method name.
METHOD_CHECKS: dict[str, Callable[..., None]] = {
    "replace": _check_replace, "join": _check_join, "expandtabs": _check_expandtabs}


def _filter_indent(limits: RenderLimits, value: Any, width: Any = 4, *_: Any, **kw: Any) -> None:
    width = kw.get("width", width)
    text = str(value)
    pad = len(width) if isinstance(width, str) else int(width or 0)
    if len(text) + (text.count("\n") + 1) * pad > limits.max_value_size:
        raise too_big("indented text", limits.max_value_size)


def _filter_wordwrap(limits: RenderLimits, value: Any, width: Any = 79, *args: Any,
                     **kw: Any) -> None:
    text = str(value)
    wrap = kw.get("wrapstring") or (args[1] if len(args) > 1 else None) or "\n"
    lines = len(text) // max(int(kw.get("width", width) or 1), 1) + text.count("\n") + 1
    if len(text) + lines * len(str(wrap)) > limits.max_value_size:
        raise too_big("wrapped text", limits.max_value_size)


def _filter_format(limits: RenderLimits, value: Any, *args: Any, **kwargs: Any) -> None:
    check_printf_format(str(value), limits)
    check_size((args, kwargs), limits, "format arguments")


def _filter_join(limits: RenderLimits, value: Any, d: Any = "", *_: Any, **kw: Any) -> None:
    _check_join(limits, kw.get("d", d), value)


def _filter_sum(_limits: RenderLimits, value: Any, *_: Any, **__: Any) -> None:
    # Adding up lists or strings is quadratic in one C call: numbers only.
    for item in value if isinstance(value, list | tuple) else ():
        if not isinstance(item, int | float) and type(item).__name__ != "Decimal":
            raise too_big("sum of non-numbers", "numbers only")


def _filter_replace(limits: RenderLimits, value: Any, old: Any = "", new: Any = "",
                    count: Any = None, **__: Any) -> None:
    _check_replace(limits, value, old, new, count)


#: Extra checks of filters that can multiply their input.
_FILTER_CHECKS: dict[str, Callable[..., None]] = {
    "indent": _filter_indent, "wordwrap": _filter_wordwrap, "format": _filter_format,
    "join": _filter_join, "sum": _filter_sum, "replace": _filter_replace}
#: Filters whose cost does not grow with their input (they read its length or one item, or
#: pass it on to be checked where it is printed): it is not walked for its size (the walk of
#: a return's items under ``|length`` was a twentieth of a render).
_SIZE_FREE = frozenset({"length", "count", "first", "last", "default", "d"})
#: Filters whose input must be a list for its check (a generator is read once, then passed on).
_MATERIALIZE = frozenset({"join", "sum"})


def guard_filter(name: str, func: Callable[..., Any], limits: RenderLimits) -> Callable[..., Any]:
    """``func`` wrapped: deadline, input size, integer arguments, filter-specific checks, and
    the result's length."""
    skip = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0
    special = _FILTER_CHECKS.get(name)

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        tick()
        if len(args) > skip:
            value = args[skip]
            if name in _MATERIALIZE and not isinstance(value, list | tuple | str | dict):
                value = list(value) if isinstance(value, Iterable) else value
                args = (*args[:skip], value, *args[skip + 1:])
            if name not in _SIZE_FREE:
                check_size(value, limits, "filter input")
            for argument in (*args[skip + 1:], *kwargs.values()):
                check_int(argument, limits)
            if special is not None:
                special(limits, *args[skip:], **kwargs)
        result = func(*args, **kwargs)
        if isinstance(result, str | list | tuple) and len(result) > limits.max_value_size:
            raise too_big("filter result", limits.max_value_size)
        return result

    return guarded

