"""What ``returnhub check`` verifies about templates, by rendering them with sample data.

For every configured stage, each of its channels (fallbacks too), every campaign template
(``campaigns/<name>/``, each channel it has files for, as the promotional message it becomes),
every language set and both sample variants (``docs/templates.md``, "Checks"):

**Errors** (``check`` fails; the message could not be sent, or breaks the configured limit):

- a template fails to render: missing file, undefined variable, sandbox or limit violation;
- an SMS is longer than ``notifications.sms_max_segments`` (full sample data, every store's
  brand), since the config promises longer templates fail;
- a campaign email does not show its unsubscribe link in its text and HTML parts (the
  dispatcher would refuse to send it).

**Warnings** (printed; ``check`` still passes, the message is sent as it is):

- an SMS that needs UCS-2 (one character outside GSM-7 makes every segment 70 characters);
- an SMS within one segment of the limit (real links can be longer than the samples');
- an HTML part that is not well-formed HTML (html5lib's strict parser), or bigger than
  Gmail's 102 KB clipping limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import html5lib

from hub.categories import CAMPAIGN_STAGE, CAMPAIGNS_FOLDER, Category
from hub.content.preview import preview
from hub.content.samples import VARIANTS, sample_context
from hub.content.sms import UCS2, count_segments
from hub.content.unsubscribe import missing_unsubscribe_link
from hub.templates import CHANNEL_FILES, TemplateRenderError

if TYPE_CHECKING:
    from hub.config import Settings
    from hub.templates import RenderedMessage, TemplateRenderer

#: Gmail clips an HTML body above this size ("[Message clipped] View entire message").
GMAIL_CLIP_BYTES = 102_000
#: The unsubscribe link of sample campaign messages (its real form: hub.unsubscribe_links).
SAMPLE_UNSUBSCRIBE = "https://hub.example/u/sample-unsubscribe-token"
#: The file that makes a template folder sendable on each channel, and the channel.
_SENDABLE_BY = {files[0]: channel for channel, files in CHANNEL_FILES.items()}


@dataclass(slots=True)
class TemplateReport:
    """Problems found, each a line naming the setting path and the template file."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def error(self, line: str) -> None:
        """Add an error once."""
        if line not in self.errors:
            self.errors.append(line)

    def warn(self, line: str) -> None:
        """Add a warning once."""
        if line not in self.warnings:
            self.warnings.append(line)


def locales_to_check(settings: Settings, renderer: TemplateRenderer) -> list[str]:
    """The default locale, then one locale per language set found."""
    default = settings.notifications.default_locale
    return [default, *sorted(lang for lang in renderer.languages
                             if lang != default.split("-")[0].split("_")[0])]


def check_templates(settings: Settings, renderer: TemplateRenderer) -> TemplateReport:
    """Render every configured stage and channel with sample data; see the module docstring."""
    report = TemplateReport()
    stores = [None, *sorted(settings.notifications.brands)]
    for stage, stage_settings in settings.notifications.stages.items():
        for channel in dict.fromkeys([*stage_settings.channels, *stage_settings.fallback]):
            for locale in locales_to_check(settings, renderer):
                _check_one(settings, renderer, report, stage, channel, locale, stores)
    for template, channels in campaign_templates(renderer):
        for channel in channels:
            for locale in locales_to_check(settings, renderer):
                _check_campaign(settings, renderer, report, template, channel, locale)
    return report


def campaign_templates(renderer: TemplateRenderer) -> list[tuple[str, list[str]]]:
    """Every campaign template folder (``campaigns/<name>``) with the channels it has files
    for, in every root and the library."""
    found: dict[str, set[str]] = {}
    for name in renderer.sets.files():
        parts = name.split("/")
        channel = _SENDABLE_BY.get(parts[-1])
        if len(parts) == 3 and parts[0] == CAMPAIGNS_FOLDER and channel:
            found.setdefault(f"{parts[0]}/{parts[1]}", set()).add(channel)
    return [(template, sorted(channels)) for template, channels in sorted(found.items())]


def _check_campaign(settings: Settings, renderer: TemplateRenderer, report: TemplateReport,
                    template: str, channel: str, locale: str) -> None:
    where = f"{template}: {channel} ({locale})"
    for variant in VARIANTS:
        context = sample_context(settings, CAMPAIGN_STAGE, channel, locale=locale,
                                 variant=variant)
        context.update(category=Category.PROMOTIONAL.value, unsubscribe_url=SAMPLE_UNSUBSCRIBE)
        try:
            rendered = renderer.render(template, channel, context)
        except TemplateRenderError as exc:
            report.error(f"{where}: {exc} (with {variant} sample data)")
            return
        if channel == "email":
            missing = missing_unsubscribe_link(rendered.text, rendered.html, SAMPLE_UNSUBSCRIBE)
            if missing:
                report.error(f"{where}: {missing}")
                return


def _check_one(settings: Settings, renderer: TemplateRenderer, report: TemplateReport,
               stage: str, channel: str, locale: str, stores: list[str | None]) -> None:
    where = f"notifications.stages.{stage}: {channel} ({locale})"
    for variant in VARIANTS:
        for store in stores if channel == "sms" and variant == "full" else [None]:
            try:
                rendered = preview(settings, renderer, stage, channel, locale, store,
                                   variant=variant)
            except TemplateRenderError as exc:
                report.error(f"{where}: {exc} (with {variant} sample data)")
                return
            if channel == "sms" and variant == "full":
                _check_sms(settings, report, where, rendered, store)
            if channel == "email" and rendered.html and variant == "full":
                _check_html(report, where, rendered, preview(
                    settings, renderer, stage, channel, locale, store, variant=variant,
                    inline_css=False).html or "")


def _check_sms(settings: Settings, report: TemplateReport, where: str,
               rendered: RenderedMessage, store: str | None) -> None:
    limit = settings.notifications.sms_max_segments
    cost = count_segments(rendered.text)
    name = rendered.templates[0] if rendered.templates else "sms.txt.j2"
    as_store = f" as store {store}" if store else ""
    if cost.segments > limit:
        report.error(f"{where}: {name} is {cost.segments} SMS segments ({cost.encoding}, "
                     f"{cost.units} units) with sample data{as_store}; the limit is "
                     f"notifications.sms_max_segments = {limit}: shorten the template")
    elif cost.encoding == UCS2:
        report.warn(f"{where}: {name} needs UCS-2 (a character outside the GSM-7 alphabet"
                    f"{as_store}), so each segment holds 67 characters instead of 153")
    elif cost.segments == limit and limit > 1:
        report.warn(f"{where}: {name} uses all {limit} SMS segments with sample data"
                    f"{as_store}; longer real links would exceed the limit")


def _check_html(report: TemplateReport, where: str, rendered: RenderedMessage,
                raw_html: str) -> None:
    """Validate the HTML as the template wrote it (inlining would repair it), and the size of
    the HTML as sent."""
    name = next((t for t in rendered.templates if t.endswith(".html.j2")), "email.html.j2")
    parser = html5lib.HTMLParser(strict=True)
    try:
        parser.parse(raw_html)
    except html5lib.html5parser.ParseError as exc:
        report.warn(f"{where}: {name} is not well-formed HTML ({exc})")
    size = len((rendered.html or "").encode())
    if size > GMAIL_CLIP_BYTES:
        report.warn(f"{where}: {name} is {size} bytes; Gmail clips HTML above "
                    f"{GMAIL_CLIP_BYTES} bytes")

