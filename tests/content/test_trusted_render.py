"""The bundled templates render outside the sandbox (hub.content.environment): every stage,
campaign, channel, language, region and sample variant gives the very same message as in the
sandbox, and the limits that stay (printed values, loops, output) still hold there."""

from __future__ import annotations

import pytest

from hub.categories import CAMPAIGN_STAGE, CAMPAIGNS_FOLDER, Category
from hub.config import Settings
from hub.content.limits import RenderLimits
from hub.content.samples import VARIANTS, sample_context
from hub.contract import hookimpl
from hub.plugins import get_plugin_manager
from hub.templates import BUNDLED_TEMPLATES, TemplateRenderer, TemplateRenderError
from tests.content.support import CHANNELS, STAGES

#: A locale per bundled language set, a region of each and one Babel does not know.
LOCALES = ("en-US", "en-GB", "fr-FR", "fr-CA", "de-DE", "de-AT", "fr-DE", "pt-BR")
CAMPAIGNS = sorted(f"{CAMPAIGNS_FOLDER}/{path.name}"
                   for path in (BUNDLED_TEMPLATES / CAMPAIGNS_FOLDER).iterdir() if path.is_dir())


@pytest.fixture(scope="module")
def renderers() -> tuple[TemplateRenderer, TemplateRenderer]:
    trusted, sandboxed = TemplateRenderer(), TemplateRenderer(sandboxed=True)
    assert not trusted.sandboxed and sandboxed.sandboxed
    return trusted, sandboxed


def _both(renderers, template: str, channel: str, context: dict):
    trusted, sandboxed = renderers
    return (trusted.render(template, channel, dict(context)),
            sandboxed.render(template, channel, dict(context)))


@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_renders_the_same_outside_the_sandbox(renderers, stage):
    settings = Settings()
    compared = 0
    for channel in CHANNELS:
        for locale in LOCALES:
            for variant in VARIANTS:
                context = sample_context(settings, stage, channel, locale=locale,
                                         variant=variant)
                fast, guarded = _both(renderers, stage, channel, context)
                assert fast == guarded, (channel, locale, variant)
                assert fast.text
                compared += 1
    assert compared == len(CHANNELS) * len(LOCALES) * len(VARIANTS)


@pytest.mark.parametrize("template", CAMPAIGNS)
def test_every_campaign_renders_the_same_outside_the_sandbox(renderers, template):
    settings = Settings()
    for channel in ("email", "sms"):
        for locale in LOCALES:
            for variant in VARIANTS:
                context = sample_context(settings, CAMPAIGN_STAGE, channel, locale=locale,
                                         variant=variant)
                context.update(category=Category.PROMOTIONAL.value,
                               unsubscribe_url="https://hub.example/u/abc")
                fast, guarded = _both(renderers, template, channel, context)
                assert fast == guarded, (channel, locale, variant)
                if channel == "email":
                    assert "https://hub.example/u/abc" in fast.html


def test_any_template_not_bundled_makes_the_whole_renderer_sandboxed(tmp_path):
    assert TemplateRenderer(operator_dir=tmp_path).sandboxed
    assert TemplateRenderer(library={"approved/sms.txt.j2": "hi"}).sandboxed
    assert TemplateRenderer(bundled_dir=tmp_path).sandboxed
    # A library template overriding a bundled layout is refused its escape either way.
    escape = "{{ ''.__class__.__mro__[1].__subclasses__() }}"
    renderer = TemplateRenderer(library={"approved/sms.txt.j2": escape})
    with pytest.raises(TemplateRenderError):
        renderer.render("approved", "sms", sample_context(Settings(), "approved", "sms"))


def test_a_printed_value_over_the_limit_still_fails_outside_the_sandbox(renderers):
    settings = Settings()
    context = sample_context(settings, "approved", "email")
    context["customer"] = {**context["customer"], "first_name": "J" * 100_001}
    for renderer in renderers:
        with pytest.raises(TemplateRenderError, match="printed value larger than the limit"):
            renderer.render("approved", "email", dict(context))


def test_a_loop_still_counts_against_the_deadline_outside_the_sandbox():
    """The bundled approved email lists the items in a macro (its output is buffered, not
    counted as the part's output): 200,000 of them run into the time limit at a loop step."""
    trusted = TemplateRenderer(limits=RenderLimits(max_seconds=0.05))
    assert not trusted.sandboxed
    context = sample_context(Settings(), "approved", "email")
    items = context["return"]["items"][:1] * 200_000
    context["return"] = {**context["return"], "items": items}
    with pytest.raises(TemplateRenderError) as caught:
        trusted.render("approved", "email", context)
    assert caught.value.error == "RenderTimeout"


def test_a_plugins_filter_puts_the_renderer_back_in_the_sandbox():
    """Plugin filters are promised the sandbox (docs/plugin-guide.md): one may be handed the
    environment and build a template from a value with it."""

    class Shouting:
        __name__ = "shouting"

        @hookimpl
        def returnhub_template_filters(self):  # noqa: ANN201
            return {"shout": str.upper}

    assert not TemplateRenderer(pm=get_plugin_manager()).sandboxed  # bundled plugins add none
    assert TemplateRenderer(pm=get_plugin_manager(extra_plugins=[Shouting()])).sandboxed
