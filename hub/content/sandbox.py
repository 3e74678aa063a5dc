"""The Jinja2 environment message templates run in: the immutable sandbox plus resource limits.

On top of :class:`~jinja2.sandbox.ImmutableSandboxedEnvironment` (no ``__class__`` walks, no
mutation of lists and dicts, no unsafe callables) every render gets a :class:`Budget`
(:mod:`hub.content.limits`), checked:

- in the sandbox's hooks: every call, attribute and item access, and the intercepted operators
  ``* ** % +``, which also refuse results over the size limits *before* computing them;
- at every loop step: the code generator wraps each ``{% for %}`` iterable in a guard;
- for every buffer (macro bodies, ``{% set %}`` blocks, ``caller()``), which counts what is
  written into it, and for ``~`` concatenation;
- in every filter, which refuses oversized inputs and arguments, and in ``range``, which is
  capped at :attr:`RenderLimits.max_range`.

The size checks themselves are in :mod:`hub.content.guards`; what both this and the bundled
templates' environment do is in :mod:`hub.content.environment`. The renderer counts the
top-level output itself (it renders through ``generate()``).
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Iterable
from typing import Any

from jinja2 import nodes, pass_eval_context
from jinja2.compiler import Frame
from jinja2.environment import TemplateModule
from jinja2.runtime import markup_join, missing, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment

from hub.content.environment import LoopGuard, MessageEnvironment, ShapeCodeGenerator
from hub.content.guards import BINOP_CHECKS, METHOD_CHECKS, guard_filter
from hub.content.limits import (
    DEFAULT_LIMITS,
    RenderLimits,
    check_brace_format,
    check_int,
    check_size,
    current,
    tick,
    too_big,
)

#: Types whose bound methods get their integer arguments and results checked.
_BUILTIN_OWNERS = (str, bytes, list, tuple, dict, set, frozenset, int, float)
#: Values the sandbox must see on their way out of an attribute (``str.format`` is wrapped).
_METHODS = (types.MethodType, types.BuiltinMethodType)


class GuardedBuffer(list):
    """A render buffer that counts the characters written into it against the budget."""

    __slots__ = ("_budget",)

    def __init__(self) -> None:
        super().__init__()
        self._budget = current()

    def append(self, item: Any) -> None:  # type: ignore[override]
        """Count, then append."""
        if self._budget is not None:
            self._budget.add_buffered(len(item))
        super().append(item)

    def extend(self, items: Iterable[Any]) -> None:  # type: ignore[override]
        """Count, then extend."""
        items = tuple(items)
        if self._budget is not None:
            self._budget.add_buffered(sum(len(item) for item in items))
        super().extend(items)


class _Guards(LoopGuard):
    """Wraps loop iterables and ``~`` concatenations in the guard filters."""

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        """The concatenation as the ``_guard_concat`` filter of its parts."""
        self.generic_visit(node)
        return nodes.Filter(nodes.List(node.nodes, lineno=node.lineno), "_guard_concat", [], [],
                            None, None, lineno=node.lineno)


class GuardedCodeGenerator(ShapeCodeGenerator):
    """Compiles templates with the guards of :class:`_Guards` and counting buffers."""

    guards = _Guards

    def buffer(self, frame: Frame) -> None:
        """Buffers count what is written into them (see :class:`GuardedBuffer`)."""
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.guarded_buffer()")


class LimitedSandbox(MessageEnvironment, ImmutableSandboxedEnvironment):
    """The immutable sandbox with the resource limits described in the module docstring."""

    code_generator_class = GuardedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, *, limits: RenderLimits = DEFAULT_LIMITS, **options: Any) -> None:
        super().__init__(limits=limits, **options)
        builtin_filters = dict(self.filters)
        guard_iter = builtin_filters.pop("_guard_iter")
        self.filters.clear()
        self.add_filters(builtin_filters)
        self.filters["_guard_iter"] = guard_iter
        self.filters["_guard_concat"] = self._guard_concat

    # -- hooks the compiled templates call ------------------------------------------------

    @staticmethod
    def guarded_buffer() -> GuardedBuffer:
        """A new counting buffer (called by the compiled template code)."""
        return GuardedBuffer()

    def add_filters(self, filters: dict[str, Callable[..., Any]], *, own: bool = False) -> None:
        """Install filters, each wrapped in the size and time checks (the hub's ``own`` too:
        a template here may give them anything)."""
        for name, func in filters.items():
            self.filters[name] = guard_filter(name, func, self.limits)

    def getattr(self, obj: Any, attribute: str) -> Any:
        """Dict keys win over dict methods (``return.items`` is the items, not ``dict.items``);
        otherwise the sandbox's rules."""
        tick()
        kind = type(obj)
        if kind is dict and attribute in obj:
            return obj[attribute]
        if kind is TemplateModule and attribute[:1] != "_":
            # An imported template's own names (``t.labels``, ``ui.button``): nine in ten
            # lookups of a bundled email. The sandbox's checks pass them all (the module is no
            # internal type and not mutable); a method still gets them.
            value = obj.__dict__.get(attribute, missing)
            if value is not missing and not isinstance(value, _METHODS):
                return value
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        """The sandbox's rules, after a deadline check."""
        tick()
        return super().getitem(obj, argument)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        """Check the deadline and the arguments of built-in methods; refuse big results."""
        tick()
        limits = __self.limits
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, _BUILTIN_OWNERS):
            for value in (*args, *kwargs.values()):
                check_int(value, limits)
            check_size((args, kwargs), limits, "arguments")
            special = METHOD_CHECKS.get(getattr(__obj, "__name__", ""))
            if special is not None and isinstance(owner, str):
                special(limits, owner, *args, **kwargs)
        result = super().call(__context, __obj, *args, **kwargs)
        if isinstance(result, str | bytes | list | tuple | dict) \
                and len(result) > limits.max_value_size:
            raise too_big("result", limits.max_value_size)
        return result

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        """``* ** % +`` with their results' sizes checked before they are computed."""
        tick()
        BINOP_CHECKS[operator_name](self.limits, left, right)
        return self.binop_table[operator_name](left, right)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """``str.format`` with its field widths and argument sizes checked first."""
        wrapper = super().wrap_str_format(value)
        if wrapper is None:
            return None
        template, limits = value.__self__, self.limits

        @functools.wraps(wrapper)
        def checked(*args: Any, **kwargs: Any) -> str:
            check_brace_format(template, limits)
            check_size((args, kwargs), limits, "format arguments")
            return wrapper(*args, **kwargs)

        return checked

    @pass_eval_context
    def _guard_concat(self, eval_ctx: Any, parts: list[Any]) -> str:
        """``a ~ b``: sizes checked, then joined as Jinja would (escaping when autoescaping)."""
        check_size(parts, self.limits, "concatenation")
        return markup_join(parts) if eval_ctx.autoescape else str_join(parts)
