"""Language sets: fr/fr-FR/fr-CA use the French set, any other locale the default (English)
set, file by file; operator templates override bundled ones by path, language by language."""

from __future__ import annotations

import pytest

from hub.config import Settings
from hub.content.locales import is_language_dir, locale_chain
from hub.content.preview import preview
from hub.formatting import format_date, format_money
from hub.templates import TemplateRenderer

SETTINGS = Settings()


@pytest.mark.parametrize(("locale", "chain"), [
    ("fr", ["fr"]), ("fr-FR", ["fr-FR", "fr"]), ("fr_ca", ["fr-CA", "fr"]),
    ("zh-hant-tw", ["zh-Hant-TW", "zh-Hant", "zh"]), ("es-419", ["es-419", "es"]),
    (None, []), ("", []), ("../etc", []), ("fr-FR; DROP", []),
])
def test_locale_chain(locale, chain):
    assert locale_chain(locale) == chain


def test_language_dirs_are_locales_not_stage_names():
    assert is_language_dir("fr") and is_language_dir("de") and is_language_dir("fr-CA")
    assert not any(is_language_dir(n) for n in ("approved", "vip", "_layouts", "team_review"))


@pytest.mark.parametrize("locale", ["fr", "fr-FR", "fr-CA", "fr_BE"])
def test_every_french_locale_uses_the_french_set(locale):
    message = preview(SETTINGS, TemplateRenderer(), "approved", "email", locale)
    assert message.subject == "Votre retour R-1001 est accepté"
    assert all(name.startswith("fr/") for name in message.templates)


@pytest.mark.parametrize(("locale", "money", "day"), [
    ("fr-DE", "1\u202f234,50\xa0€", "1 décembre 2026"),
    ("de-US", "1.234,50\xa0€", "1. Dezember 2026"),
    ("fr-FR", "1\u202f234,50\xa0€", "1 décembre 2026"),
])
def test_a_language_in_a_region_babel_does_not_know_is_formatted_as_its_language(
        locale, money, day):
    # Found from outside: a French-speaking customer in Germany read French words around
    # "EUR 1234.50" and "2026-12-01".
    assert format_money("1234.50", "EUR", locale) == money
    assert format_date("2026-12-01T12:00:00+00:00", locale, "long") == day


def test_a_locale_babel_does_not_know_at_all_keeps_the_plain_format():
    assert format_money("1234.50", "EUR", "xx-YY") == "EUR 1234.50"
    assert format_date("2026-12-01T12:00:00+00:00", "xx-YY", "long") == "2026-12-01"


@pytest.mark.parametrize("locale", ["es-ES", "en-GB", "xx", None])
def test_other_locales_use_the_default_set(locale):
    message = preview(SETTINGS, TemplateRenderer(), "approved", "email", locale)
    assert message.subject == "Your return R-1001 is approved"
    assert message.templates[0] == "approved/email.subject.j2"


def test_fallback_is_file_by_file(tmp_path):
    # An operator's Spanish set with only an SMS: the email falls back to English.
    (tmp_path / "es" / "approved").mkdir(parents=True)
    (tmp_path / "es" / "approved" / "sms.txt.j2").write_text(
        "{{ brand.store_name }}: su devolución {{ return.reference }} está aprobada.")
    renderer = TemplateRenderer(operator_dir=tmp_path)
    assert "es" in renderer.languages
    sms = preview(SETTINGS, renderer, "approved", "sms", "es-MX")
    assert sms.templates == ("es/approved/sms.txt.j2",) and "devolución R-1001" in sms.text
    email = preview(SETTINGS, renderer, "approved", "email", "es-MX")
    assert email.templates[0] == "approved/email.subject.j2"
    assert email.subject == "Your return R-1001 is approved"
    # Money and dates still follow the customer's locale.
    assert format_money("29.00", "MXN", "es-MX") in email.text


def test_a_shared_partial_falls_back_per_language(tmp_path):
    # A French stage file missing from an operator's set still gets the French layout
    # strings: layouts and partials resolve in the language of the message.
    (tmp_path / "vip_approved").mkdir()
    for name in ("email.subject.j2", "email.txt.j2", "sms.txt.j2"):
        (tmp_path / "vip_approved" / name).write_text(
            "{% extends '_layouts/email.txt.j2' %}{% block body %}VIP {{ return.reference }}"
            "{% endblock %}" if name == "email.txt.j2" else "VIP {{ return.reference }}")
    renderer = TemplateRenderer(operator_dir=tmp_path)
    from hub.content.samples import sample_context

    context = sample_context(SETTINGS, "approved", "email", locale="fr-FR")
    message = renderer.render("vip_approved", "email", context)
    assert message.text.startswith("Bonjour Camille,") and "VIP R-1001" in message.text
    assert "L'équipe des retours" in message.text
    assert message.html is None  # no HTML file: a text-only email


def test_operator_override_by_path_per_language(tmp_path):
    (tmp_path / "approved").mkdir()
    (tmp_path / "approved" / "sms.txt.j2").write_text("EN custom {{ return.reference }}")
    (tmp_path / "de" / "approved").mkdir(parents=True)
    (tmp_path / "de" / "approved" / "sms.txt.j2").write_text("DE eigen {{ return.reference }}")
    renderer = TemplateRenderer(operator_dir=tmp_path)
    assert preview(SETTINGS, renderer, "approved", "sms", "en-US").text == "EN custom R-1001"
    assert preview(SETTINGS, renderer, "approved", "sms", "de-AT").text == "DE eigen R-1001"
    # The operator changed English and German; French keeps the bundled translation.
    french = preview(SETTINGS, renderer, "approved", "sms", "fr-FR")
    assert french.templates == ("fr/approved/sms.txt.j2",) and "est accepté" in french.text


def test_operator_can_override_the_shared_words_of_a_language(tmp_path):
    (tmp_path / "fr" / "_i18n").mkdir(parents=True)
    bundled = TemplateRenderer().sets.roots[0] / "fr" / "_i18n" / "common.j2"
    (tmp_path / "fr" / "_i18n" / "common.j2").write_text(
        bundled.read_text().replace("Bonjour {{ customer.first_name }},",
                                    "Chère cliente, cher client,"))
    renderer = TemplateRenderer(operator_dir=tmp_path)
    message = preview(SETTINGS, renderer, "refunded", "email", "fr-FR")
    assert message.text.startswith("Chère cliente, cher client,")
    assert "Chère cliente" in message.html
