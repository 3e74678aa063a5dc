"""Render a stage's message with sample data: ``returnhub templates preview`` and checks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hub.content.samples import Variant, sample_context

if TYPE_CHECKING:
    from hub.config import Settings
    from hub.templates import RenderedMessage, TemplateRenderer


def template_for(settings: Settings, stage: str) -> str:
    """The template folder of ``stage``: its ``template`` setting, else the stage name."""
    stage_settings = settings.notifications.stages.get(stage)
    return (stage_settings.template if stage_settings else None) or stage


def preview(settings: Settings, renderer: TemplateRenderer, stage: str, channel: str,
            locale: str | None = None, brand_source: str | None = None, *,
            variant: Variant = "full", inline_css: bool = True) -> RenderedMessage:
    """``stage`` on ``channel`` rendered with realistic sample data, in ``locale`` (default:
    ``notifications.default_locale``) and with the brand of the store ``brand_source``.

    Raises :class:`~hub.templates.TemplateRenderError` naming the file (and the variable) when
    a template fails, exactly as sending would. ``inline_css=False`` keeps the HTML as the
    template wrote it."""
    context = sample_context(settings, stage, channel, locale=locale, brand_source=brand_source,
                             variant=variant)
    return renderer.render(template_for(settings, stage), channel, context,
                           inline_css=inline_css)
