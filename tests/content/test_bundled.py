"""Every bundled stage x channel x language renders with sample data, as a real client needs:
well-formed HTML with inlined styles, a plain-text part, the return reference, the portal
link, and SMS within the segment limit in GSM-7."""

from __future__ import annotations

import re

import pytest

from hub.config import Settings
from hub.content.preview import preview
from hub.content.sms import GSM7, count_segments
from hub.templates import TemplateRenderer
from tests.content.support import CHANNELS, LOCALES, STAGES, strict_html

SETTINGS = Settings()
RENDERER = TemplateRenderer()


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("variant", ["full", "minimal"])
def test_email_is_complete_and_well_formed(stage, locale, variant):
    message = preview(SETTINGS, RENDERER, stage, "email", locale, variant=variant)
    prefix = LOCALES[locale]
    assert message.templates == (f"{prefix}{stage}/email.subject.j2",
                                 f"{prefix}{stage}/email.html.j2",
                                 f"{prefix}{stage}/email.txt.j2")
    assert message.subject and "\n" not in message.subject and "R-1001" in message.subject
    assert "R-1001" in message.text and "R-1001" in message.html
    assert "{{" not in message.text + message.html  # no template syntax leaked
    strict_html(message.html)
    strict_html(preview(SETTINGS, RENDERER, stage, "email", locale, variant=variant,
                        inline_css=False).html)  # as written: inlining would repair it
    assert f'<html lang="{locale[:2]}">' in message.html
    # CSS inlined: the content cell and every paragraph carry their styles.
    assert re.search(r'<td class="content"[^>]* style="[^"]*padding', message.html)
    assert all("style=" in p for p in re.findall(r"<p\b[^>]*>", message.html))
    # Only media queries stay in a <style> block (for clients that honour them).
    for block in re.findall(r"<style>(.*?)</style>", message.html, re.S):
        assert block.strip().startswith("@media")
    if variant == "full":
        portal = re.search(r"https?://\S+/portal/r/[\w.-]+", message.text).group(0)
        assert portal in message.html


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("variant", ["full", "minimal"])
def test_sms_fits_the_segment_limit_in_gsm7(stage, locale, variant):
    message = preview(SETTINGS, RENDERER, stage, "sms", locale, variant=variant)
    assert message.templates == (f"{LOCALES[locale]}{stage}/sms.txt.j2",)
    cost = count_segments(message.text)
    assert cost.segments <= SETTINGS.notifications.sms_max_segments, (stage, locale, cost)
    assert cost.encoding == GSM7, {c for c in message.text if ord(c) > 127}
    assert "R-1001" in message.text and "\n" not in message.text
    assert message.text.startswith(SETTINGS.notifications.brand.store_name)
    if variant == "full":
        assert "/portal/r/" in message.text


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("stage", STAGES)
def test_portal_notice_names_the_return(stage, locale):
    for variant in ("full", "minimal"):
        message = preview(SETTINGS, RENDERER, stage, "portal", locale, variant=variant)
        assert message.text.split(":")[0].strip().endswith("R-1001")
        assert "{{" not in message.text and "\n" not in message.text


@pytest.mark.parametrize("stage", STAGES)
def test_every_language_set_is_translated(stage):
    texts = {locale: preview(SETTINGS, RENDERER, stage, channel, locale)
             for locale in LOCALES for channel in ("email",)}
    subjects = {m.subject for m in texts.values()}
    bodies = {m.text.splitlines()[2] for m in texts.values()}
    assert len(subjects) == 3 and len(bodies) == 3
    assert texts["fr-FR"].text.startswith("Bonjour")
    assert texts["de-DE"].text.startswith(("Hallo", "Guten Tag"))


@pytest.mark.parametrize(("locale", "amount", "date"), [
    ("en-US", "$29.00", "December"), ("fr-FR", "29,00\u00a0€", "décembre"),
    ("de-DE", "29,00\u00a0€", "Dezember")])
def test_money_and_dates_follow_the_locale(locale, amount, date):
    from datetime import UTC, datetime

    from hub.content.samples import sample_context

    context = sample_context(SETTINGS, "in_transit", "email", locale=locale,
                             now=datetime(2026, 11, 28, tzinfo=UTC))
    message = RENDERER.render("in_transit", "email", context)
    assert amount in message.text
    assert date in message.text  # estimated delivery, 3 days later: December 1, 2026


def test_refund_amount_and_method_are_stated():
    message = preview(SETTINGS, RENDERER, "refunded", "email", "en-US")
    assert "$29.00 to your original payment method" in message.text
    assert "5 to 10 business days" in message.text


def test_tracking_link_is_in_transit_messages():
    for channel in CHANNELS[:2]:
        message = preview(SETTINGS, RENDERER, "in_transit", channel, "en-US")
        assert "https://www.ups.com/track?tracknum=1Z999AA10123456784" in message.text
