"""Imports made once per message: ``{% import "x" as t with context %}`` runs ``x`` once.

Jinja runs an imported template again for every import *with context*. The bundled email
imports the shared words (``_i18n/common.j2``) four times per part, through the child template,
its partials and the layout: eight runs and two partials per message, about a third of a
render. What such a module holds (its variables, its macros, its text) depends only on the
values of the names it reads from the context (filters given the context declare theirs:
``money`` reads ``locale``), and on those of the templates it imports or includes in turn.
So within one message, an import that would see the very same values as an earlier one gets
that earlier module, provided none of those values can change while it keeps its identity:
strings, numbers, dates, markup, and lists and dicts holding only such values (the immutable
sandbox lets no template change a list or a dict; the bundled templates, which run outside
it, change none either).

A template is run every time, as Jinja does, when that reasoning does not hold for it: it
takes a template name from data (``{% include name %}``), assigns into a namespace
(``{% set ns.x = ... %}``), reads the stateful helpers ``namespace``, ``joiner`` or
``cycler``, uses a filter or test that reads the context without saying what, or sees a
value that may change (a namespace, a cycler, an iterator, a macro).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from jinja2 import Template, TemplateError, nodes
from jinja2.meta import TrackingCodeGenerator
from jinja2.runtime import Context, Undefined, missing
from markupsafe import Markup

#: Globals whose values keep state between calls: a module reading one is never shared.
_STATEFUL = frozenset({"namespace", "joiner", "cycler"})
#: Values that cannot change while they keep their identity (containers: if all they hold
#: is, since the immutable sandbox lets no template change a list or a dict).
_SETTLED = (str, Markup, int, float, bool, type(None), Decimal, date, datetime, time, Undefined)
#: The exact types of :data:`_SETTLED` met most, found by one set lookup instead of a walk
#: of the tuple (``_settled`` runs some sixty times a message).
_SETTLED_EXACT = frozenset({str, Markup, int, float, bool, type(None), Decimal, date, datetime})
_CONTAINERS = (dict, list, tuple, frozenset)


@dataclass(frozen=True, slots=True)
class ModuleShape:
    """What a compiled template reads from its context, found from its syntax tree."""

    #: Names it looks up in the context (its free variables).
    reads: frozenset[str]
    #: Templates it runs with its own context (``extends``, ``include``, imports with
    #: context), by the names written in it.
    runs: tuple[str, ...]
    #: Whether one run can stand for another that sees the same values (module docstring).
    shareable: bool


def shape_of(tree: nodes.Template, environment: Any) -> ModuleShape:
    """The :class:`ModuleShape` of a parsed template (called once, when it is compiled)."""
    tracker = TrackingCodeGenerator(environment)
    tracker.visit(tree)
    # Jinja's tracker leaves out the names of globals; a context value can still stand in
    # for one, so those read are keyed too.
    globals_read = {node.name for node in tree.find_all(nodes.Name)
                    if node.ctx == "load" and node.name in environment.globals}
    reads = set(tracker.undeclared_identifiers | globals_read)
    runs: list[str] = []
    shareable = not (reads & _STATEFUL) and next(tree.find_all(nodes.NSRef), None) is None
    # A filter or test given the context may read any name of it: only those that say which
    # names they read (``context_reads``, e.g. the locale of ``money``) keep a module shared.
    for node in tree.find_all((nodes.Filter, nodes.Test)):
        table = environment.filters if isinstance(node, nodes.Filter) else environment.tests
        function = table.get(node.name)
        if function is not None and _passes_context(function):
            declared = getattr(function, "context_reads", None)
            if declared is None:
                shareable = False
            else:
                reads.update(declared)
    for node in tree.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)):
        if isinstance(node, nodes.Import | nodes.FromImport) and not node.with_context:
            continue  # made without the importer's context
        name = node.template.value if isinstance(node.template, nodes.Const) else None
        if isinstance(name, str):
            runs.append(name)
        else:
            shareable = False
    return ModuleShape(frozenset(reads), tuple(runs), shareable)


def _passes_context(function: Any) -> bool:
    """Whether Jinja hands ``function`` the render context (``@pass_context``)."""
    passed = getattr(function, "jinja_pass_arg", None)
    return getattr(passed, "name", None) == "context"


class _Message:
    """The modules made for one message so far, and the names each template depends on."""

    __slots__ = ("contexts", "modules", "reads", "settled")

    def __init__(self) -> None:
        #: The render contexts made for this message (see :func:`one_message`).
        self.contexts: list[Context] = []
        #: (template, ids of the values it saw) -> (those values, the module). The values are
        #: kept so that no id is reused while the message renders.
        self.modules: dict[tuple[Any, ...], tuple[tuple[Any, ...], Any]] = {}
        #: Template -> every name its module depends on, or None (never shared).
        self.reads: dict[Template, tuple[str, ...] | None] = {}
        #: id of a container -> whether everything in it is settled (see :func:`_settled`).
        self.settled: dict[int, tuple[Any, bool]] = {}


_MESSAGE: ContextVar[_Message | None] = ContextVar("returnhub_message_modules", default=None)


@contextlib.contextmanager
def one_message() -> Iterator[None]:
    """Share imported modules between the parts of the message rendered inside the block.

    On the way out, the message's render contexts let go of their variables. Jinja makes
    every macro a closure over its template's context, which holds the macro in turn: each
    message left a few hundred objects in such cycles (macros, their cells, contexts,
    modules), which only the garbage collector frees, and its collections were a tenth of
    the hub's CPU under load. Emptied, they go as soon as the message is rendered."""
    message = _Message()
    token = _MESSAGE.set(message)
    try:
        yield
    finally:
        _MESSAGE.reset(token)
        for context in message.contexts:
            context.vars.clear()
            context.exported_vars.clear()


def _value(name: str, context: Mapping[str, Any] | None, local: Mapping[str, Any] | None) -> Any:
    # What the module's context will hold under ``name`` (Jinja's new_context: the
    # importer's locals win over its context, unless they are not set yet).
    if local is not None:
        found = local.get(name, missing)
        if found is not missing:
            return found
    return context.get(name, missing) if context is not None else missing


class MessageTemplate(Template):
    """A template whose imports with context are shared within a message (module docstring);
    outside :func:`one_message` it is Jinja's."""

    def new_context(self, vars: dict[str, Any] | None = None,  # noqa: A002 (Jinja's names)
                    shared: bool = False, locals: Mapping[str, Any] | None = None) -> Context:  # noqa: A002
        """Jinja's context, noted for :func:`one_message` to empty. Not the one of a module
        Jinja keeps across renders (an import without context: made without ``vars``)."""
        context = super().new_context(vars, shared, locals)
        message = _MESSAGE.get()
        if message is not None and vars is not None:
            message.contexts.append(context)
        return context

    def make_module(self, vars: dict[str, Any] | None = None,  # noqa: A002 (Jinja's names)
                    shared: bool = False, locals: Mapping[str, Any] | None = None) -> Any:  # noqa: A002
        """Jinja's module, or the one made earlier in this message from the same values."""
        message = _MESSAGE.get()
        names = _depends_on(self, message) if shared and message is not None else None
        if names is None:
            return super().make_module(vars, shared, locals)
        values = tuple(_value(name, vars, locals) for name in names)
        if not all(_settled(value, message) for value in values):
            return super().make_module(vars, shared, locals)
        key = (self, *map(id, values))  # the template: the HTML and text ones share names
        found = message.modules.get(key)
        if found is None:
            found = message.modules[key] = (values, super().make_module(vars, shared, locals))
        return found[1]


def _settled(value: Any, message: _Message, depth: int = 0) -> bool:
    """Whether ``value`` cannot change while it keeps its identity: no namespace, cycler,
    joiner, iterator or macro (whose output may read one) anywhere in it."""
    kind = type(value)
    if kind in _SETTLED_EXACT or value is missing or isinstance(value, _SETTLED):
        return True
    if not (kind in _CONTAINERS or isinstance(value, _CONTAINERS)) or depth > 20:
        return False
    known = message.settled.get(id(value))
    if known is not None and known[0] is value:
        return known[1]
    items = value.values() if isinstance(value, dict) else value
    found = all(_settled(item, message, depth + 1) for item in items)
    message.settled[id(value)] = (value, found)
    return found


def _depends_on(template: Template, message: _Message) -> tuple[str, ...] | None:
    """Every name ``template``'s module depends on, through the templates it runs; None when
    it cannot be shared. Resolved once per message: the file a name stands for depends on the
    message's language."""
    name = template.name
    if name is None:
        return None
    if template in message.reads:
        return message.reads[template]
    message.reads[template] = None  # a template that runs itself is not shared
    environment = template.environment
    shape = environment.shape(name)
    names: set[str] | None = None
    if shape is not None and shape.shareable:
        names = set(shape.reads)
        for run in shape.runs:
            try:
                inner = _depends_on(environment.get_template(run, name), message)
            except TemplateError:  # e.g. ``include ... ignore missing``: Jinja decides
                inner = None
            if inner is None:
                names = None
                break
            names.update(inner)
    found = tuple(sorted(names)) if names is not None else None
    message.reads[template] = found
    return found
