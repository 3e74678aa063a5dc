"""The template library through the admin API: read, check and save message templates.

A template saved here is stored in the database (``template_revisions``), so every node uses
it from its next message (``hub.content.live``); it overrides the operator folder's and the
bundled file of the same path. Before it is stored, the node builds the templates with it and
runs the checks of ``returnhub check``; a template that fails is refused (422 naming the file
and line) and the templates in use stay as they were.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import Field, field_validator

from hub.content.live import MAX_TEMPLATE_BYTES, TemplateRejected
from hub.store.engine import utcnow
from hub.store.template_store import add_revision
from hub.templates import BUNDLED_TEMPLATES
from hub.web.admin import audit
from hub.web.admin.errors import ApiError
from hub.web.admin.routing import ApiRouter, Call
from hub.web.admin.schemas import FreeForm, Strict

router = ApiRouter(tag="templates")
#: Template paths: folders and a file name ending in ``.j2``, no ``..`` nor hidden parts.
PATH_PATTERN = r"^(?:[A-Za-z0-9_][A-Za-z0-9_.-]*/){0,4}[A-Za-z0-9_][A-Za-z0-9_.-]*\.j2$"
_FILES = "/api/templates/files/{path:.+}"


class TemplatePath(Strict):
    """A template file by path, as in the templates folder (``fr/approved/sms.txt.j2``)."""

    path: str = Field(max_length=200, pattern=PATH_PATTERN)

    @field_validator("path")
    @classmethod
    def _no_parent(cls, value: str) -> str:
        if any(part in ("", ".", "..") for part in value.split("/")):
            raise ValueError("path parts may not be empty, '.' or '..'")
        return value


class TemplateSource(Strict):
    """The new source of a template file (Jinja2, as in the templates folder)."""

    source: str = Field(min_length=1, max_length=MAX_TEMPLATE_BYTES)


def _in_use(call: Call, path: str) -> tuple[str, str, int | None] | None:
    """(source, origin, revision) of ``path`` as this node uses it, or None."""
    library = call.hub.templates
    if path in library.revisions:
        revision, source = library.revisions[path]
        return source, "library", revision
    if path in library.folder_files():
        return library.folder_files()[path], "folder", None
    bundled = BUNDLED_TEMPLATES.joinpath(*path.split("/"))
    if bundled.is_file():
        return bundled.read_text(encoding="utf-8"), "bundled", None
    return None


@router.route("GET", "/api/templates/status", summary="The templates this node uses and the "
              "last refused change", scope="read", response=FreeForm)
async def template_status(call: Call) -> FreeForm:
    """Reloads since start, the library's paths with their revision, and the last change that
    failed the checks (``problem``: its first error, naming the file and line), until a later
    change is accepted."""
    await call.hub.templates.refresh(force=True)
    return FreeForm(call.hub.templates.status())


@router.route("GET", _FILES, summary="Read a template file as this node uses it",
              scope="read", path_model=TemplatePath, response=FreeForm)
async def get_template_file(call: Call) -> FreeForm:
    """The source in use and where it comes from: ``library`` (saved through this API, with
    its ``revision``), ``folder`` (``notifications.templates_dir``) or ``bundled``."""
    path = call.path.path
    await call.hub.templates.refresh(force=True)
    found = _in_use(call, path)
    if found is None:
        raise ApiError(404, "not_found", f"no template file {path}", field="path")
    source, origin, revision = found
    return FreeForm({"path": path, "origin": origin, "revision": revision, "source": source})


@router.route("PUT", _FILES, summary="Check and save a template file for every node",
              scope="admin", path_model=TemplatePath, body=TemplateSource, response=FreeForm,
              audited=True, errors={422: "The template fails the checks: the error names the "
                                    "file and line; nothing is saved."})
async def put_template_file(call: Call) -> FreeForm:
    """Builds the templates with this source and runs the checks of ``returnhub check``
    (syntax, sandbox, variables with sample data, SMS segment limits); saves it only when they
    pass. Every node uses it from its next message."""
    path, source = call.path.path, call.body.source
    return FreeForm(await _save(call, path, source))


@router.route("DELETE", _FILES, summary="Remove a template file from the library",
              scope="admin", path_model=TemplatePath, response=FreeForm, audited=True,
              errors={404: "The library has no such file.",
                      422: "Without it the templates fail the checks; nothing is changed."})
async def delete_template_file(call: Call) -> FreeForm:
    """The operator folder's or the bundled file applies again (checked first)."""
    path = call.path.path
    await call.hub.templates.refresh(force=True)
    if path not in call.hub.templates.revisions:
        raise ApiError(404, "not_found", f"the library has no template file {path}",
                       field="path")
    return FreeForm(await _save(call, path, None))


async def _save(call: Call, path: str, source: str | None) -> dict[str, Any]:
    library = call.hub.templates
    await library.refresh(force=True)  # check against what the other nodes saved meanwhile
    async with library.saving():
        sources = library.library_sources()
        if source is None:
            sources.pop(path, None)
        else:
            sources[path] = source
        try:
            renderer, report = await asyncio.to_thread(library.candidate, sources, None, [path])
        except TemplateRejected as exc:
            field = "source" if source is not None else "path"
            raise ApiError(422, "template_invalid", exc.errors[0][:1000],
                           field=field) from None
        async with call.hub.sessionmaker() as session, session.begin():
            row = add_revision(session, path, source, call.token.name)
            await session.flush()
            audit.record(session, call.token, "template.save" if source is not None
                         else "template.remove", f"template:{path}",
                         {"revision": row.id, "sha256": row.sha256}, utcnow())
        revisions = dict(library.revisions)
        if source is None:
            revisions.pop(path, None)
        else:
            revisions[path] = (row.id, source)
        library.accept(renderer, revisions)
    return {"path": path, "revision": row.id, "origin": "library" if source else None,
            "warnings": report.warnings[:20]}
