"""Language sets of templates and the file-by-file fallback between them.

A top-level folder named after a locale (``fr``, ``de``, ``fr-CA``) holds a language set with
the same layout as the default (English) set at the root. A file is looked up from the most
specific tag of the customer's locale to the least, then in the default set::

    locale fr-CA:  fr-CA/approved/sms.txt.j2 → fr/approved/sms.txt.j2 → approved/sms.txt.j2

The same applies to names used inside templates (``{% extends %}``, ``{% import %}``,
``{% include %}``), resolved with the locale of the message being rendered, so a French stage
file inherits the shared layout, which imports the French strings. Each root (operator folder,
then bundled folder) is searched for each name, so an operator file overrides the bundled file
of the same path, language by language.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from pathlib import Path

from babel import localedata
from jinja2.exceptions import TemplateNotFound
from jinja2.loaders import split_template_path

#: A folder name that can be a language set (then confirmed with Babel's locale data).
_LOCALE_DIR = re.compile(r"[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*")
_SUBTAG = re.compile(r"[A-Za-z0-9]{1,8}")

_RENDER_LOCALE: ContextVar[str | None] = ContextVar("returnhub_render_locale", default=None)


def locale_chain(locale: str | None) -> list[str]:
    """The tags to try for ``locale``, most specific first: ``"fr_ca"`` → ``["fr-CA",
    "fr"]``; an empty or malformed locale gives ``[]`` (the default set only)."""
    if not locale:
        return []
    parts = re.split(r"[-_]", locale.strip())
    if not parts or not all(_SUBTAG.fullmatch(part) for part in parts):
        return []
    tags = [parts[0].lower()]
    for part in parts[1:]:
        if len(part) == 4 and part.isalpha():
            tags.append(part.title())  # script: Hant
        elif len(part) == 2 and part.isalpha() or len(part) == 3 and part.isdigit():
            tags.append(part.upper())  # region: CA, 419
        else:
            tags.append(part.lower())
    return ["-".join(tags[:n]) for n in range(len(tags), 0, -1)]


def language_of(locale: str | None) -> str:
    """The primary language subtag (``"fr-CA"`` → ``"fr"``), ``"en"`` when unknown."""
    chain = locale_chain(locale)
    return chain[-1] if chain else "en"


def is_language_dir(name: str) -> bool:
    """Whether a top-level folder name is a language set."""
    return bool(_LOCALE_DIR.fullmatch(name)) and localedata.exists(name.replace("-", "_"))


@contextlib.contextmanager
def rendering_locale(locale: str | None) -> Iterator[None]:
    """Resolve names inside templates for ``locale`` while the block runs."""
    token = _RENDER_LOCALE.set(locale)
    try:
        yield
    finally:
        _RENDER_LOCALE.reset(token)


class TemplateSets:
    """The template roots (operator first, then bundled) and their language sets.

    ``extra`` names files held in memory (the live template library, :mod:`hub.content.live`),
    found before any root."""

    def __init__(self, roots: list[Path], extra: Mapping[str, str] | None = None) -> None:
        self.roots = [Path(root) for root in roots]
        self.extra = frozenset(extra or ())
        self.languages = frozenset(
            child.name for root in self.roots if root.is_dir() for child in root.iterdir()
            if child.is_dir() and is_language_dir(child.name)) | frozenset(
            name.split("/", 1)[0] for name in self.extra
            if "/" in name and is_language_dir(name.split("/", 1)[0]))
        self._exists: dict[str, bool] = {}
        self._resolved: dict[tuple[str, tuple[str, ...]], str | None] = {}

    def exists(self, name: str) -> bool:
        """Whether any root has the file ``name`` (cached: templates load once)."""
        if name not in self._exists:
            try:
                parts = split_template_path(name)
            except TemplateNotFound:
                return False
            self._exists[name] = name in self.extra or any(
                root.joinpath(*parts).is_file() for root in self.roots)
        return self._exists[name]

    def language_prefix(self, name: str) -> str | None:
        """The language set ``name`` is in (its first folder), or None for the default set."""
        first = name.split("/", 1)[0]
        return first if first in self.languages and "/" in name else None

    def resolve(self, path: str, locale: str | None) -> str | None:
        """The file to use for ``path`` in ``locale`` (see the module docstring), or None."""
        tags = tuple(tag for tag in locale_chain(locale) if tag in self.languages)
        key = (path, tags)
        if key not in self._resolved:
            candidates = [f"{tag}/{path}" for tag in tags] + [path]
            self._resolved[key] = next((c for c in candidates if self.exists(c)), None)
        return self._resolved[key]

    def join_path(self, template: str, parent: str) -> str:
        """A name used inside a template, resolved for the locale being rendered."""
        if self.language_prefix(template) is not None:
            return template
        return self.resolve(template, _RENDER_LOCALE.get()) or template

    def files(self) -> list[str]:
        """Every template file name in every root (for checks)."""
        names: set[str] = set(self.extra)
        for root in self.roots:
            if root.is_dir():
                names.update(p.relative_to(root).as_posix() for p in root.rglob("*.j2"))
        return sorted(names)
