"""Brand and voice per store: the default brand merged with notifications.brands[<source>],
passed by Composer.compose to every template and to the sender fields."""

from __future__ import annotations

from hub.config import BrandOverride, BrandSettings, Settings
from hub.content.brand import brand_for, merge_brand
from tests.content.support import claimed, make_composer

SETTINGS = Settings(notifications={
    "brand": {"store_name": "Demo Store", "from_email": "returns@demo.example",
              "support_email": "help@demo.example", "sign_off": "The Demo team"},
    "brands": {"eu_shop": {"store_name": "Demo Europe", "from_name": "Demo EU Returns",
                           "logo_url": "https://cdn.demo.example/eu.png",
                           "primary_color": "#0a7d32", "sign_off": "Bis bald, Ihr Demo-Team"}},
})


def test_override_replaces_only_the_fields_it_sets():
    merged = merge_brand(SETTINGS.notifications.brand, SETTINGS.notifications.brands["eu_shop"])
    assert merged.store_name == "Demo Europe" and merged.primary_color == "#0a7d32"
    assert merged.from_email == "returns@demo.example"  # inherited
    assert merged.support_email == "help@demo.example"
    assert brand_for(SETTINGS.notifications.brand, SETTINGS.notifications.brands,
                     "unknown").store_name == "Demo Store"


def test_unsafe_brand_values_are_neutralised():
    merged = merge_brand(BrandSettings(), BrandOverride(
        logo_url="javascript:alert(1)", primary_color="red;} body{display:none",
        from_name="Returns\r\nBcc: x@evil.test"))
    assert merged.logo_url is None and merged.primary_color == "#1f6feb"
    assert merged.from_name == "Returns Bcc: x@evil.test"


def test_compose_uses_the_store_brand():
    composer = make_composer(SETTINGS)
    eu = composer.compose(claimed(composer, source="eu_shop", locale="de-DE"))
    assert eu.from_name == "Demo EU Returns" and eu.from_address == "returns@demo.example"
    assert eu.reply_to == "help@demo.example"
    assert 'src="https://cdn.demo.example/eu.png"' in eu.html and "#0a7d32" in eu.html
    assert "Bis bald, Ihr Demo-Team" in eu.text and "Bis bald, Ihr Demo-Team" in eu.html
    assert "zu Ihrer Retoure bei Demo Europe" in eu.text

    default = composer.compose(claimed(composer, source="shop"))
    assert default.from_name == "Demo Store" and "Demo Europe" not in default.text
    assert "The Demo team" in default.text and "#1f6feb" in default.html
    assert "https://hub.example/portal/r/shop.R-1001" in default.text


def test_compose_sms_uses_the_store_name():
    composer = make_composer(SETTINGS)
    sms = composer.compose(claimed(composer, source="eu_shop", channel="sms",
                                     to="+4915112345678"))
    assert sms.text.startswith("Demo Europe: your return R-1001 is approved.")
    assert sms.subject is None and sms.html is None


def test_the_builtin_sign_off_is_translated_but_a_configured_one_is_kept():
    composer = make_composer(Settings())
    french = composer.compose(claimed(composer, locale="fr-FR"))
    assert "L'équipe des retours" in french.text and "The returns team" not in french.text
    branded = make_composer(SETTINGS)
    german = branded.compose(claimed(branded, locale="de-DE"))
    assert "The Demo team" in german.text
