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

The size checks themselves are in :mod:`hub.content.guards`. The renderer counts the
top-level output itself (it renders through ``generate()``).
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from jinja2 import nodes, pass_context, pass_eval_context
from jinja2.compiler import CodeGenerator, Frame
from jinja2.environment import TemplateModule
from jinja2.runtime import markup_join, missing, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

from hub.content.guards import BINOP_CHECKS, METHOD_CHECKS, guard_filter
from hub.content.limits import (
    DEFAULT_LIMITS,
    RangeTooLarge,
    RenderLimits,
    check_brace_format,
    check_int,
    check_size,
    clock,
    current,
    tick,
    too_big,
)
from hub.content.modules import MessageTemplate, ModuleShape, shape_of

#: Types whose bound methods get their integer arguments and results checked.
_BUILTIN_OWNERS = (str, bytes, list, tuple, dict, set, frozenset, int, float)
#: Values the sandbox must see on their way out of an attribute (``str.format`` is wrapped).
_METHODS = (types.MethodType, types.BuiltinMethodType)
#: Globals Jinja adds that a message template has no use for (``lipsum(10**6)`` burns CPU).
_DROPPED_GLOBALS = ("lipsum",)


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


class _Guards(NodeTransformer):
    """Wraps loop iterables and ``~`` concatenations in the guard filters."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, "_guard_iter", [], [], None, None,
                                 lineno=node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return nodes.Filter(nodes.List(node.nodes, lineno=node.lineno), "_guard_concat", [], [],
                            None, None, lineno=node.lineno)


class GuardedCodeGenerator(CodeGenerator):
    """Compiles templates with the guards of :class:`_Guards` and counting buffers."""

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        """Record what the template reads (:mod:`hub.content.modules`), insert the guards,
        then compile as usual."""
        if self.name is not None:
            self.environment.shapes[self.name] = shape_of(node, self.environment)
        _Guards().visit(node)
        super().visit_Template(node, frame)

    def buffer(self, frame: Frame) -> None:
        """Buffers count what is written into them (see :class:`GuardedBuffer`)."""
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.guarded_buffer()")


class LimitedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox with the resource limits described in the module docstring."""

    code_generator_class = GuardedCodeGenerator
    template_class = MessageTemplate
    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, *, limits: RenderLimits = DEFAULT_LIMITS, **options: Any) -> None:
        super().__init__(**options)
        self.limits = limits
        #: Loaded templates by resolved name (see :meth:`get_template`).
        self._loaded: dict[str, Any] = {}
        #: What each compiled template reads, by name (:mod:`hub.content.modules`).
        self.shapes: dict[str, ModuleShape] = {}
        self.finalize = self._finalize
        self.globals["range"] = self._range
        for name in _DROPPED_GLOBALS:
            self.globals.pop(name, None)
        builtin_filters = dict(self.filters)
        self.filters.clear()
        self.add_filters(builtin_filters)
        self.filters["_guard_iter"] = _guard_iter
        self.filters["_guard_concat"] = self._guard_concat

    def get_template(self, name: Any, parent: str | None = None,
                     globals: Any = None) -> Any:  # noqa: A002 (Jinja's signature)
        """Load a template; the time spent loading and compiling it (first use only) does not
        count against the render's deadline, so a cold process under load is not a hang.

        Templates are never reloaded (``auto_reload`` is off: a change is a new environment),
        so a loaded one is kept by its resolved name and found again without Jinja's cache."""
        plain = globals is None and isinstance(name, str)
        if plain:
            name = name if parent is None else self.join_path(name, parent)
            loaded = self._loaded.get(name)
            if loaded is not None:
                return loaded
            parent = None
        started = clock()
        try:
            template = super().get_template(name, parent, globals)
        finally:
            spent = current()
            if spent is not None:
                spent.extend(clock() - started)
        if plain and not self.auto_reload:
            self._loaded[name] = template
        return template

    def shape(self, name: str) -> ModuleShape | None:
        """What the compiled template ``name`` reads (None if not compiled here)."""
        return self.shapes.get(name)

    # -- hooks the compiled templates call ------------------------------------------------

    @staticmethod
    def guarded_buffer() -> GuardedBuffer:
        """A new counting buffer (called by the compiled template code)."""
        return GuardedBuffer()

    def add_filters(self, filters: dict[str, Callable[..., Any]]) -> None:
        """Install filters, each wrapped in the size and time checks."""
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

    def _finalize(self, value: Any) -> Any:
        """Every ``{{ value }}`` output: refuse one too big to print."""
        if isinstance(value, str):
            if len(value) > self.limits.max_value_size:
                raise too_big("printed value", self.limits.max_value_size)
            return value
        if not isinstance(value, int | float) and value is not None:
            check_size(value, self.limits, "printed value")
        return value

    def _range(self, *args: int) -> range:
        """``range`` capped at :attr:`RenderLimits.max_range` items."""
        tick()
        numbers = range(*args)
        if len(numbers) > self.limits.max_range:
            raise RangeTooLarge(f"range larger than the limit ({self.limits.max_range})")
        return numbers

    @pass_eval_context
    def _guard_concat(self, eval_ctx: Any, parts: list[Any]) -> str:
        """``a ~ b``: sizes checked, then joined as Jinja would (escaping when autoescaping)."""
        check_size(parts, self.limits, "concatenation")
        return markup_join(parts) if eval_ctx.autoescape else str_join(parts)


@pass_context
def _guard_iter(_context: Any, value: Any) -> Iterator[Any]:
    """Every ``{% for %}`` iterable: counts steps against the budget (``pass_context`` keeps
    the compiler from evaluating it at compile time)."""
    spent = current()
    for item in value:
        if spent is not None:
            spent.step()
        yield item
