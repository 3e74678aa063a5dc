"""Message templates: sandboxed, size- and time-limited Jinja2, language sets, operator overrides.

Layout, per template (a stage name by default) and per language set (``docs/templates.md``)::

    templates/[<lang>/]<template>/email.subject.j2   one line (whitespace collapsed)
    templates/[<lang>/]<template>/email.html.j2      autoescaped; CSS inlined after rendering
    templates/[<lang>/]<template>/email.txt.j2       the plain-text part (always sent)
    templates/[<lang>/]<template>/sms.txt.j2         GSM-normalized, counted in segments
    templates/[<lang>/]<template>/portal.txt.j2
    templates/[<lang>/]<template>/<channel>.txt.j2   any other channel (a plugin's); without
                                                      it, the channel sends email.txt.j2

A file of the same path in ``notifications.templates_dir`` overrides the bundled one; a
language set falls back to the default set file by file (:mod:`hub.content.locales`).
HTML is rendered by an autoescaping environment and text by a separate, non-escaping one.
Both run in :class:`~hub.content.sandbox.LimitedSandbox` under one
:class:`~hub.content.limits.Budget` per message, except in a renderer whose files are all
bundled: those run in :class:`~hub.content.environment.TrustedEnvironment`, the same limits
on loops and printed values without the sandbox's hooks (that module says why). Templates
are compiled once and cached; undefined variables are errors (StrictUndefined). A renderer
never sees a file change: the running hub swaps in a new renderer, built from an in-memory
copy of the operator files and the library's templates (``library``), once it has passed the
checks (:mod:`hub.content.live`).
"""

from __future__ import annotations

import re
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
)
from jinja2.exceptions import TemplateSyntaxError

from hub.content.environment import TrustedEnvironment
from hub.content.filters import FILTERS
from hub.content.html import InlineError, html_to_text, inline_css
from hub.content.limits import DEFAULT_LIMITS, RenderLimitExceeded, RenderLimits, budget
from hub.content.locales import _RENDER_LOCALE, TemplateSets, rendering_locale
from hub.content.modules import one_message
from hub.content.sandbox import LimitedSandbox
from hub.content.sms import normalize_sms
from hub.content.text import clean_text, one_line
from hub.plugins import PluginError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    import pluggy
    from jinja2 import Environment

#: The templates shipped with Returnhub: ``hub/bundled_templates`` is a link to the checkout's
#: ``templates/`` folder, and a copy of it in a wheel.
BUNDLED_TEMPLATES = (Path(__file__).parent / "bundled_templates").resolve()
_TRAILING_SPACE = re.compile(r"[ \t]+$", re.MULTILINE)
_BLANK_RUNS = re.compile(r"\n{3,}")
_QUOTED = re.compile(r"'([^'\n]*)'")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*(?: object)?")
#: Compiled templates kept per environment (stages x parts x languages, with room to spare).
_CACHE_SIZE = 2000
#: Entries of the file-name caches; they are keyed on raw locales, which come from customer
#: data, so they are emptied when full rather than left to grow.
_NAMES_CACHE_SIZE = 5000
_UNKNOWN = object()
#: Channels that must have their own text file: the others fall back to ``email.txt.j2``.
OWN_TEXT_FILE = frozenset({"sms", "portal"})
#: Files each channel needs in a template folder (of the default language set), the first
#: being the one that makes a folder sendable on it. Any other channel needs
#: ``<channel>.txt.j2`` or, failing that, ``email.txt.j2``.
CHANNEL_FILES = {"email": ("email.subject.j2", "email.txt.j2"), "sms": ("sms.txt.j2",),
                 "portal": ("portal.txt.j2",)}


def missing_channel_files(has: Callable[[str], bool], template: str, channel: str) -> list[str]:
    """The files ``template`` lacks to be sent on ``channel`` (``has``: whether a file
    exists), each as a problem's text."""
    problems = []
    for filename in CHANNEL_FILES.get(channel, (f"{channel}.txt.j2",)):
        if has(f"{template}/{filename}"):
            continue
        if channel in CHANNEL_FILES or channel in OWN_TEXT_FILE:
            problems.append(f"template file {template}/{filename} not found")
        elif not has(f"{template}/email.txt.j2"):  # a plugin's channel sends the text part
            problems.append(f"template file {template}/{filename} (or {template}/email.txt.j2, "
                            f"which {channel!r} falls back to) not found")
    return problems


def _remember(cache: dict, key: tuple, value: Any) -> Any:
    if len(cache) >= _NAMES_CACHE_SIZE:
        cache.clear()
    cache[key] = value
    return value


def redact(message: str) -> str:
    """A Jinja error message with every quoted value that is not a name (``'config'``,
    ``'dict object'``) replaced by ``'…'``: ``{{ {}[customer.name] }}`` fails with the
    customer's name as the missing key."""
    return _QUOTED.sub(lambda m: m.group(0) if _NAME.fullmatch(m.group(1)) else "'…'", message)


def tidy_text(text: str) -> str:
    """A text part as sent: no trailing spaces, at most one blank line in a row (so templates
    can use ``{% if %}`` blocks freely), no bidi controls, no surrounding whitespace."""
    text = _BLANK_RUNS.sub("\n\n", _TRAILING_SPACE.sub("", clean_text(text) or ""))
    return text.strip()


class TemplateRenderError(Exception):
    """A template is missing or failed to render. The message names the file (and the line
    and variable where Jinja knows them), never the data.

    ``template`` is the file; ``error`` the name of the underlying error class (for example
    ``UndefinedError``, ``SecurityError``, ``RenderTimeout``)."""

    def __init__(self, message: str, *, template: str | None = None,
                 error: str | None = None) -> None:
        super().__init__(message)
        self.template = template
        self.error = error


@dataclass(slots=True)
class RenderedMessage:
    """The text of one message."""

    subject: str | None
    text: str
    html: str | None
    #: The template files used, after language fallback (for previews and logs).
    templates: tuple[str, ...] = ()


#: The pseudo file name of an in-memory template in tracebacks: ``library:<name>``.
LIBRARY_PREFIX = "library:"


class _MemoryLoader(BaseLoader):
    """Templates held in memory, named like files; never reloaded (a change is a new renderer).
    Their "file name" keeps the ``.j2`` name so errors can name the line."""

    def __init__(self, sources: Mapping[str, str]) -> None:
        self.sources = dict(sources)

    def get_source(self, environment: Environment,
                   template: str) -> tuple[str, str, Callable[[], bool]]:
        """The source of ``template``, or TemplateNotFound."""
        if template not in self.sources:
            raise TemplateNotFound(template)
        return self.sources[template], LIBRARY_PREFIX + template, lambda: True

    def list_templates(self) -> list[str]:
        """Every name held."""
        return sorted(self.sources)


class _NamesBySet:
    """Resolves names used inside templates through the language sets (mixed in before an
    environment class)."""

    def __init__(self, sets: TemplateSets, **options: Any) -> None:
        super().__init__(**options)
        self.sets = sets
        self._joined: dict[tuple[str, str, str | None], str] = {}

    def join_path(self, template: str, parent: str) -> str:
        """``{% extends/import/include %}`` names, resolved for the message's locale (cached:
        the files are found once, like the templates themselves)."""
        # Keyed on the locale the sets resolve with (see hub.content.locales.rendering_locale).
        key = (template, parent, _RENDER_LOCALE.get())
        name = self._joined.get(key)
        if name is None:
            name = _remember(self._joined, key, self.sets.join_path(template, parent))
        return name


class _Sandboxed(_NamesBySet, LimitedSandbox):
    """The sandbox over the language sets."""


class _Trusted(_NamesBySet, TrustedEnvironment):
    """The bundled templates' environment over the language sets."""


class TemplateRenderer:
    """Renders a channel's files of a template with a context.

    ``sandboxed``: whether the templates run in the sandbox; by default they do unless every
    file is bundled (no ``operator_dir``, no ``library``, the package's own ``bundled_dir``)
    and no plugin adds filters.
    """

    def __init__(self, operator_dir: Path | None = None, pm: pluggy.PluginManager | None = None,
                 bundled_dir: Path = BUNDLED_TEMPLATES,
                 limits: RenderLimits = DEFAULT_LIMITS,
                 library: Mapping[str, str] | None = None,
                 sandboxed: bool | None = None) -> None:
        roots = [Path(operator_dir), Path(bundled_dir)] if operator_dir else [Path(bundled_dir)]
        self.roots = roots
        #: In-memory templates by name, found before any folder (see the module docstring).
        self.library = dict(library or {})
        self.sets = TemplateSets(roots, self.library)
        self.limits = limits
        loader = ChoiceLoader([_MemoryLoader(self.library),
                               *(FileSystemLoader(str(root)) for root in roots)])
        options: dict[str, Any] = {
            "loader": loader, "undefined": StrictUndefined, "auto_reload": False,
            "trim_blocks": True, "lstrip_blocks": True, "keep_trailing_newline": False,
            "cache_size": _CACHE_SIZE, "limits": limits}
        self.pm = pm
        self._resolved: dict[tuple[str, str, str | None], str | None] = {}
        plugin_filters: dict[str, Any] = {}
        if pm is not None:
            for filters in reversed(pm.hook.returnhub_template_filters()):
                if not isinstance(filters, dict):  # at start-up: the hub does not start
                    raise PluginError(f"a returnhub_template_filters hook returned "
                                      f"{type(filters).__name__}, not a dict of filters")
                plugin_filters.update(filters)  # the first pluggy calls wins a clash
        if sandboxed is None:
            # A plugin's filter is promised the sandbox (it may be handed the environment,
            # and build a template from a value with it).
            sandboxed = bool(operator_dir or self.library or plugin_filters) \
                or Path(bundled_dir).resolve() != BUNDLED_TEMPLATES
        #: Whether the templates run in the sandbox (see the class docstring).
        self.sandboxed = sandboxed
        environment = _Sandboxed if sandboxed else _Trusted
        self.html_env = environment(self.sets, autoescape=True, **options)
        self.text_env = environment(self.sets, autoescape=False, **options)
        #: The plain-text environment (kept under its old name for callers that used it).
        self.env = self.text_env
        for env in (self.html_env, self.text_env):
            env.add_filters(FILTERS, own=True)
            env.add_filters(plugin_filters)

    @property
    def languages(self) -> frozenset[str]:
        """The language sets found (bundled and operator)."""
        return self.sets.languages

    def has(self, name: str) -> bool:
        """Whether a template file exists (exact path, no language fallback)."""
        return self.sets.exists(name)

    def resolve(self, template: str, filename: str, locale: str | None) -> str | None:
        """The file used for ``template/filename`` in ``locale``, after fallback (cached, per
        raw locale: parsing the locale costs more than rendering needs to spend)."""
        key = (template, filename, locale)
        name = self._resolved.get(key, _UNKNOWN)
        if name is _UNKNOWN:
            name = _remember(self._resolved, key, self.sets.resolve(f"{template}/{filename}",
                                                                     locale))
        return name

    def text_file(self, template: str, channel: str, locale: str | None) -> str:
        """The file a text channel renders: ``<channel>.txt.j2``; a channel other than sms and
        portal without one (a plugin's, e.g. slack) uses the email's plain-text part."""
        if channel not in OWN_TEXT_FILE and self.resolve(template, f"{channel}.txt.j2",
                                                          locale) is None:
            return self._require(template, "email.txt.j2", locale)
        return self._require(template, f"{channel}.txt.j2", locale)

    def _require(self, template: str, filename: str, locale: str | None) -> str:
        name = self.resolve(template, filename, locale)
        if name is None:
            raise TemplateRenderError(f"{template}/{filename}: template not found",
                                      template=f"{template}/{filename}", error="TemplateNotFound")
        return name

    def _render(self, html: bool, name: str, context: dict[str, Any]) -> str:
        env = self.html_env if html else self.text_env
        cap = self.limits.max_output_chars
        try:
            chunks, size = [], 0
            for chunk in env.get_template(name).generate(context):
                size += len(chunk)
                if size > cap:
                    raise RenderLimitExceeded(f"output limit ({cap} characters) exceeded")
                chunks.append(chunk)
            return "".join(chunks)
        except TemplateError as exc:
            # Jinja's messages name templates, variables and types; a missing key may be data.
            text = exc.message or ""
            if not isinstance(exc, TemplateSyntaxError):  # syntax errors quote the source
                text = redact(text)
            message = f"{exc.__class__.__name__}: {text}"
            raise TemplateRenderError(f"{name}: {message}{self._where(exc, name)}",
                                      template=name, error=exc.__class__.__name__) from None
        except Exception as exc:  # TypeError, RecursionError...: their text may quote data
            raise TemplateRenderError(f"{name}: {exc.__class__.__name__}{self._where(exc, name)}",
                                      template=name, error=exc.__class__.__name__) from None

    def _where(self, exc: BaseException, name: str) -> str:
        """`` (line N)`` or `` (in other.j2, line N)``: the innermost template frame."""
        line: int | None
        if isinstance(exc, TemplateSyntaxError):
            where, line = exc.name or name, exc.lineno
        else:
            frames = [f for f in traceback.extract_tb(exc.__traceback__)
                      if f.filename.endswith(".j2")]
            if not frames:
                return ""
            where, line = self._relative(frames[-1].filename), frames[-1].lineno
        return f" (line {line})" if where == name else f" (in {where}, line {line})"

    def _relative(self, filename: str) -> str:
        if filename.startswith(LIBRARY_PREFIX):
            return filename[len(LIBRARY_PREFIX):]
        for root in self.roots:
            try:
                return Path(filename).resolve().relative_to(root.resolve()).as_posix()
            except ValueError:
                continue
        return Path(filename).name

    def _plugin_context(self, template: str, channel: str,
                        context: dict[str, Any]) -> dict[str, Any]:
        if self.pm is None:
            return context
        extra: dict[str, Any] = {}
        hook = "returnhub_template_context"
        try:
            additions = self.pm.hook.returnhub_template_context(
                stage=context.get("stage", template), channel=channel, context=context)
        except Exception as exc:  # a plugin's bug: this message cannot render as configured
            raise TemplateRenderError(f"{template}: a {hook} hook raised {type(exc).__name__}",
                                      template=template, error="PluginError") from None
        for addition in reversed(additions):  # the first pluggy calls wins a clash
            if not isinstance(addition, dict):
                raise TemplateRenderError(
                    f"{template}: a {hook} hook returned {type(addition).__name__}, not a "
                    "dict", template=template, error="PluginError")
            extra.update(addition)
        return {**context, **extra} if extra else context

    def render(self, template: str, channel: str, context: dict[str, Any], *,
               inline_css: bool = True) -> RenderedMessage:
        """Render ``template`` for ``channel`` in the context's ``locale``; plugins may add
        context first. Raises :class:`TemplateRenderError` (missing file, undefined variable,
        sandbox violation, limit exceeded).

        ``inline_css=False`` returns the HTML exactly as the template produced it (checks
        validate that: inlining re-serializes, and so repairs, malformed markup)."""
        context = self._plugin_context(template, channel, context)
        locale = context.get("locale")
        with budget(self.limits), rendering_locale(locale), one_message():
            if channel == "email":
                return self._render_email(template, context, locale, inline_css)
            name = self.text_file(template, channel, locale)
            text = self._render(False, name, context)
            text = normalize_sms(text) if channel == "sms" else tidy_text(text)
            return RenderedMessage(None, text, None, (name,))

    def _render_email(self, template: str, context: dict[str, Any], locale: str | None,
                      inline: bool) -> RenderedMessage:
        subject_name = self._require(template, "email.subject.j2", locale)
        subject = one_line(self._render(False, subject_name, context))
        used = [subject_name]
        html = None
        html_name = self.resolve(template, "email.html.j2", locale)
        if html_name is not None:
            used.append(html_name)
            try:
                html = self._render(True, html_name, context)
                html = inline_css(html) if inline else html
            except InlineError as exc:
                raise TemplateRenderError(f"{html_name}: {exc}", template=html_name,
                                          error="InlineError") from None
        text_name = self.resolve(template, "email.txt.j2", locale)
        if text_name is not None:
            used.append(text_name)
            text = tidy_text(self._render(False, text_name, context))
        elif html is not None:
            text = html_to_text(html)
        else:
            text = ""
        if not text:
            raise TemplateRenderError(f"{template}/email.txt.j2: the plain-text part is empty",
                                      template=f"{template}/email.txt.j2", error="EmptyText")
        return RenderedMessage(subject, text, html, tuple(used))
