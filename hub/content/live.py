"""The live template library: template changes used by the next message, without a restart.

A node renders with one :class:`~hub.templates.TemplateRenderer` at a time, built from an
in-memory copy of the operator folder (``notifications.templates_dir``) with the library's
templates (saved through the admin API, kept in the database) on top, and the bundled files
below. Before rendering a message, at most every ``templates.reload_interval_ms``, the node
compares the folder's file list, sizes and modification times and the library's row count and
highest id with what it last loaded. On a change it reads the sources, builds a new renderer
and runs the checks of ``returnhub check`` (:func:`hub.content.verify.check_templates`, plus a
compile of every changed file); only a renderer that passes replaces the running one, so every
cache (compiled templates, resolved names, language sets) is new with it. A broken change is
logged (``template_reload_refused``), shown by ``GET /api/templates/status``, and the last
good renderer keeps sending: it holds its sources in memory, so it never reads the broken
file.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from jinja2 import TemplateSyntaxError
from sqlalchemy.exc import SQLAlchemyError

from hub.content.verify import check_templates
from hub.logs import get_logger
from hub.templates import TemplateRenderer

if TYPE_CHECKING:
    from collections.abc import Mapping

    import pluggy

    from hub.config import Settings
    from hub.content.verify import TemplateReport
    from hub.templates import RenderedMessage

log = get_logger("hub.templates")
#: The database is away: a driver's error, the network's, or a statement past its timeout
#: (PostgreSQL's driver raises a bare TimeoutError).
_DATABASE_AWAY = (SQLAlchemyError, OSError, TimeoutError)


class SavedTemplates(Protocol):
    """Where templates saved through the admin API are kept (the store's ``TemplateStore``):
    rendering reads them through this, and knows no database."""

    async def fingerprint(self) -> tuple[int, int | None]:
        """Changes with every save."""

    async def current(self) -> dict[str, tuple[int, str]]:
        """Every path's newest revision: {path: (revision id, source)}."""
#: Operator files larger than this are refused (a template is a few kilobytes).
MAX_TEMPLATE_BYTES = 256 * 1024
#: Files modified this recently are also compared by content (see :func:`folder_fingerprint`).
SETTLE_SECONDS = 2.0


class TemplateRejected(Exception):
    """A set of templates failed the checks; ``errors`` name the file and line of each."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__(errors[0] if errors else "templates rejected")
        self.errors = errors


@dataclass(slots=True)
class Problem:
    """The last refused change, until a later change is accepted."""

    error: str
    errors: int
    at: datetime


def folder_fingerprint(folder: Path | None) -> tuple:
    """The operator folder's template files with their size and modification time, and the
    hash of those modified in the last :data:`SETTLE_SECONDS` (file times are coarse: two
    saves of the same size within a few milliseconds can share a modification time)."""
    if folder is None or not folder.is_dir():
        return ()
    stats = []
    recent = time.time_ns() - int(SETTLE_SECONDS * 1e9)
    for path in folder.rglob("*.j2"):
        try:
            info = path.stat()
            digest = (hashlib.sha256(path.read_bytes()).hexdigest()
                      if info.st_mtime_ns >= recent else None)
        except OSError:  # removed while listing: the next check sees the final state
            continue
        stats.append((path.relative_to(folder).as_posix(), info.st_size, info.st_mtime_ns,
                      digest))
    return tuple(sorted(stats))


def read_folder(folder: Path | None) -> dict[str, str]:
    """Every template file of the operator folder, by name; raises :class:`TemplateRejected`
    for a file that is too big or not UTF-8."""
    files: dict[str, str] = {}
    if folder is None or not folder.is_dir():
        return files
    for path in folder.rglob("*.j2"):
        name = path.relative_to(folder).as_posix()
        try:
            if path.stat().st_size > MAX_TEMPLATE_BYTES:
                raise TemplateRejected([f"{name}: larger than {MAX_TEMPLATE_BYTES} bytes"])
            files[name] = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise TemplateRejected([f"{name}: not UTF-8 text"]) from None
        except FileNotFoundError:  # removed while listing
            continue
        except OSError as exc:
            raise TemplateRejected([f"{name}: cannot be read ({exc.strerror})"]) from None
    return files


def compile_errors(renderer: TemplateRenderer, names: list[str]) -> list[str]:
    """Syntax errors of ``names`` (files no configured stage renders are checked too)."""
    errors = []
    for name in names:
        env = renderer.html_env if name.endswith(".html.j2") else renderer.text_env
        try:
            env.get_template(name)
        except TemplateSyntaxError as exc:
            errors.append(f"{name}: TemplateSyntaxError: {exc.message} (line {exc.lineno})")
    return errors


class TemplateLibrary:
    """The renderer in use, replaced when the templates change (see the module docstring).

    It renders like a :class:`~hub.templates.TemplateRenderer` (``render``, ``languages``,
    ``has``, ``resolve``), always with the current one."""

    def __init__(self, settings: Settings, pm: pluggy.PluginManager | None,
                 store: SavedTemplates | None = None) -> None:
        self.settings = settings
        self.pm = pm
        self.store = store
        self.folder = settings.notifications.templates_dir
        self.interval = settings.templates.reload_interval_ms / 1000
        #: The library's templates in use: {path: (revision id, source)}.
        self.revisions: dict[str, tuple[int, str]] = {}
        self.problem: Problem | None = None
        #: How many times the renderer was replaced since the process started.
        self.reloads = 0
        self._seen: tuple = (folder_fingerprint(self.folder), None)
        # At start the files are used as they are (`returnhub check` checks them first).
        try:
            self._files = read_folder(self.folder)
        except TemplateRejected as exc:  # an unreadable file: the bundled ones are used
            self._files = {}
            self._refused(exc)
        self.current = self.build({})
        self._checked = time.monotonic()
        self._lock = asyncio.Lock()

    # -- rendering, always with the current renderer ------------------------------------

    def render(self, template: str, channel: str, context: dict[str, Any],
               **options: Any) -> RenderedMessage:
        """:meth:`TemplateRenderer.render` with the templates in use."""
        return self.current.render(template, channel, context, **options)

    @property
    def languages(self) -> frozenset[str]:
        """The language sets of the templates in use."""
        return self.current.languages

    def has(self, name: str) -> bool:
        """Whether a template file exists in the templates in use."""
        return self.current.has(name)

    def resolve(self, template: str, filename: str, locale: str | None) -> str | None:
        """The file used for ``template/filename`` in ``locale``."""
        return self.current.resolve(template, filename, locale)

    # -- changes --------------------------------------------------------------------------

    def build(self, library: Mapping[str, str], files: Mapping[str, str] | None = None
              ) -> TemplateRenderer:
        """A renderer for the operator's files in use (or ``files``) and ``library`` (which
        wins), the bundled templates under both; unchecked."""
        sources = {**(self._files if files is None else files), **library}
        return TemplateRenderer(None, self.pm, library=sources)

    def candidate(self, library: Mapping[str, str], files: Mapping[str, str] | None = None,
                  changed: list[str] | None = None) -> tuple[TemplateRenderer, TemplateReport]:
        """A renderer for these sources and what the checks say of it; raises
        :class:`TemplateRejected` with every error."""
        renderer = self.build(library, files)
        errors = compile_errors(renderer, changed or [])
        report = check_templates(self.settings, renderer)
        errors.extend(report.errors)
        if errors:
            raise TemplateRejected(errors)
        return renderer, report

    def folder_files(self) -> dict[str, str]:
        """The operator folder's files in use (the last accepted copy), by name."""
        return self._files

    def saving(self) -> asyncio.Lock:
        """Held while a change is checked and saved, so no reload runs meanwhile."""
        return self._lock

    def library_sources(self) -> dict[str, str]:
        """The library's sources in use, by path."""
        return {path: source for path, (_, source) in self.revisions.items()}

    def accept(self, renderer: TemplateRenderer, revisions: dict[str, tuple[int, str]]) -> None:
        """Use ``renderer`` from the next message on (a change checked by the caller)."""
        self.current = renderer
        self.revisions = revisions
        self.problem = None
        self.reloads += 1

    async def start(self) -> None:
        """Load the library and check the templates the node starts with: they are used even
        when they fail (there is nothing older to keep), but the problem is logged and shown."""
        await self.refresh(force=True)
        if self.reloads or self.folder is None:
            return  # no operator files, or just checked by the reload
        try:
            await asyncio.to_thread(self.candidate, {}, None, sorted(self._files))
        except TemplateRejected as exc:
            self._refused(exc)

    def _refused(self, exc: TemplateRejected) -> None:
        self.problem = Problem(exc.errors[0][:1000], len(exc.errors), datetime.now(UTC))
        log.error("template_reload_refused", error=exc.errors[0][:1000],
                  errors=len(exc.errors))

    async def refresh(self, *, force: bool = False) -> None:
        """Look for changes (at most every ``reload_interval_ms`` unless ``force``) and use
        them when they pass the checks."""
        if not force and time.monotonic() - self._checked < self.interval:
            return
        async with self._lock:
            if not force and time.monotonic() - self._checked < self.interval:
                return
            self._checked = time.monotonic()
            try:
                seen = (folder_fingerprint(self.folder),
                        await self.store.fingerprint() if self.store else None)
            except _DATABASE_AWAY as exc:  # keep sending as we are
                log.warning("template_check_failed", error=type(exc).__name__)
                return
            if seen == self._seen:
                return
            self._seen = seen
            await self._reload()

    async def _reload(self) -> None:
        try:
            revisions = await self.store.current() if self.store else {}
        except _DATABASE_AWAY as exc:
            self._seen = ()  # look again next time
            log.warning("template_check_failed", error=type(exc).__name__)
            return
        try:
            files = read_folder(self.folder)
            library = {path: source for path, (_, source) in revisions.items()}
            before = {**self._files, **self.library_sources()}
            after = {**files, **library}
            if after == before:
                self.revisions = revisions
                return
            changed = sorted(n for n in after if before.get(n) != after[n])
            renderer, _ = await asyncio.to_thread(self.candidate, library, files, changed)
        except TemplateRejected as exc:
            self._refused(exc)
            return
        self._files = files
        self.accept(renderer, revisions)
        log.info("templates_reloaded", changed=changed[:20], files=len(after))

    def status(self) -> dict[str, Any]:
        """What the node uses and the last refused change (for the admin API)."""
        return {
            "reloads": self.reloads,
            "library": {path: rid for path, (rid, _) in sorted(self.revisions.items())},
            "folder_files": len(self._files),
            "problem": None if self.problem is None else {
                "error": self.problem.error, "errors": self.problem.errors,
                "at": self.problem.at.isoformat()}}
