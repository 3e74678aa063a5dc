"""Message templates: a sandboxed Jinja2 environment with bundled defaults and operator overrides.

Layout, per template (a stage name by default)::

    templates/<template>/email.subject.j2   one line
    templates/<template>/email.html.j2      autoescaped
    templates/<template>/email.txt.j2
    templates/<template>/sms.txt.j2
    templates/<template>/portal.txt.j2

A file of the same path in ``notifications.templates_dir`` overrides the bundled one. Templates
are compiled once and cached; undefined variables are errors (StrictUndefined), never blanks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined, TemplateError, select_autoescape
from jinja2.sandbox import ImmutableSandboxedEnvironment

from hub.formatting import format_date, format_money

if TYPE_CHECKING:
    import pluggy

#: The templates shipped with Returnhub (the checkout's templates/ folder).
BUNDLED_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


class TemplateRenderError(Exception):
    """A template is missing or failed to render; the message names the file, not the data."""


@dataclass(slots=True)
class RenderedMessage:
    """The text of one message."""

    subject: str | None
    text: str
    html: str | None


class TemplateRenderer:
    """Renders a channel's files of a template with a context."""

    def __init__(self, operator_dir: Path | None = None, pm: pluggy.PluginManager | None = None,
                 bundled_dir: Path = BUNDLED_TEMPLATES) -> None:
        loaders = [FileSystemLoader(str(operator_dir))] if operator_dir else []
        loaders.append(FileSystemLoader(str(bundled_dir)))
        self.env = ImmutableSandboxedEnvironment(
            loader=ChoiceLoader(loaders), undefined=StrictUndefined,
            autoescape=select_autoescape(enabled_extensions=("html.j2", "html"),
                                         default_for_string=False),
            auto_reload=False, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)
        self.env.filters["money"] = format_money
        self.env.filters["date"] = format_date
        self.pm = pm
        if pm is not None:
            for filters in pm.hook.returnhub_template_filters():
                self.env.filters.update(filters or {})

    def has(self, name: str) -> bool:
        """Whether a template file exists."""
        try:
            self.env.get_template(name)
        except TemplateError:
            return False
        return True

    def _render(self, name: str, context: dict[str, Any]) -> str:
        try:
            return self.env.get_template(name).render(context)
        except TemplateError as exc:
            # The exception text names the template and the undefined name, not the data.
            raise TemplateRenderError(f"{name}: {exc.__class__.__name__}: {exc.message}") from None

    def render(self, template: str, channel: str, context: dict[str, Any]) -> RenderedMessage:
        """Render ``template`` for ``channel``; plugins may add context first."""
        if self.pm is not None:
            extra: dict[str, Any] = {}
            for addition in self.pm.hook.returnhub_template_context(
                    stage=context.get("stage", template), channel=channel, context=context):
                extra.update(addition or {})
            if extra:
                context = {**context, **extra}
        if channel == "email":
            subject = " ".join(self._render(f"{template}/email.subject.j2", context).split())
            html_name = f"{template}/email.html.j2"
            html = self._render(html_name, context) if self.has(html_name) else None
            return RenderedMessage(subject, self._render(f"{template}/email.txt.j2", context), html)
        return RenderedMessage(None, self._render(f"{template}/{channel}.txt.j2", context).strip(),
                               None)
