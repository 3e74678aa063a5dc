"""What every Jinja2 environment of message templates does, sandboxed or not, and the one that
renders Returnhub's own templates without the sandbox.

Both environments (:class:`~hub.content.sandbox.LimitedSandbox` for templates an operator or
a merchant wrote, :class:`TrustedEnvironment` for the bundled ones) share through
:class:`MessageEnvironment`:

- templates loaded once and found again by name (:meth:`MessageEnvironment.get_template`),
  their loading not counted against the render's deadline;
- what each compiled template reads (:mod:`hub.content.modules`), so that imports with
  context are made once per message;
- dict keys before dict methods (``return.items`` is the items, not ``dict.items``);
- the loop guard (every ``{% for %}`` step counts against the deadline), ``range`` capped,
  ``lipsum`` gone, and no printed value over the size limit.

Why the bundled templates skip the sandbox: they are the hub's own code, reviewed and tested
like the rest of it (every stage, channel, language and sample variant renders the same in
both environments: ``tests/content/test_trusted_render.py``), and the data they print cannot
run: Jinja evaluates template code, never values. The sandbox's hooks (a check on every
attribute, item, call, operator, filter and buffer) were a third of a bundled email's render
(docs/performance.md). A renderer whose files are all bundled, and to which no plugin adds
filters, renders in this environment; one that has an operator folder or library template
anywhere in it, or a plugin's filter, renders every message in the sandbox
(:class:`hub.templates.TemplateRenderer`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from jinja2 import Environment, nodes, pass_context
from jinja2.compiler import CodeGenerator, Frame
from jinja2.visitor import NodeTransformer

from hub.content.guards import guard_filter
from hub.content.limits import (
    DEFAULT_LIMITS,
    RangeTooLarge,
    RenderLimits,
    check_size,
    clock,
    current,
    tick,
    too_big,
)
from hub.content.modules import MessageTemplate, ModuleShape, shape_of

#: Globals Jinja adds that a message template has no use for (``lipsum(10**6)`` burns CPU).
_DROPPED_GLOBALS = ("lipsum",)


class LoopGuard(NodeTransformer):
    """Wraps every ``{% for %}`` iterable in the ``_guard_iter`` filter."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        """The loop, its iterable guarded."""
        self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, "_guard_iter", [], [], None, None,
                                 lineno=node.lineno)
        return node


class ShapeCodeGenerator(CodeGenerator):
    """Records what a template reads (:mod:`hub.content.modules`), then compiles it with the
    guards of :attr:`guards`."""

    #: The transformer that inserts the guards.
    guards: type[NodeTransformer] = LoopGuard

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        """Record the shape (before any guard is inserted), guard, compile as usual."""
        if self.name is not None:
            self.environment.shapes[self.name] = shape_of(node, self.environment)
        self.guards().visit(node)
        super().visit_Template(node, frame)


class MessageEnvironment:
    """The parts every message environment shares (module docstring); mixed in before a
    Jinja environment class."""

    code_generator_class = ShapeCodeGenerator
    template_class = MessageTemplate

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
        self.filters["_guard_iter"] = _guard_iter

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


class TrustedEnvironment(MessageEnvironment, Environment):
    """The bundled templates' environment: no sandbox hooks (module docstring). Filters the
    hub ships run as they are; any other keeps its size and time checks."""

    def add_filters(self, filters: dict[str, Any], *, own: bool = False) -> None:
        """Install filters: the hub's own (``own``) as they are, others checked
        (:func:`hub.content.guards.guard_filter`)."""
        for name, func in filters.items():
            self.filters[name] = func if own else guard_filter(name, func, self.limits)

    def getattr(self, obj: Any, attribute: str) -> Any:
        """Dict keys win over dict methods, as in the sandbox."""
        if type(obj) is dict and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


@pass_context
def _guard_iter(_context: Any, value: Any) -> Iterator[Any]:
    """Every ``{% for %}`` iterable: counts steps against the budget (``pass_context`` keeps
    the compiler from evaluating it at compile time)."""
    spent = current()
    for item in value:
        if spent is not None:
            spent.step()
        yield item
