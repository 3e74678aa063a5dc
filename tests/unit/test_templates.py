"""Templates: sandboxed, strict, HTML autoescaped, and every bundled stage renders.

The exhaustive content tests (every stage x channel x language, limits, QR, brands, preview)
are in tests/content/.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from jinja2.exceptions import SecurityError, UndefinedError

from hub.config import BrandSettings
from hub.content.context import make_context
from hub.templates import BUNDLED_TEMPLATES, CHANNEL_FILES, TemplateRenderer, TemplateRenderError

VECTORS = json.loads((Path(__file__).parent.parent / "fixtures/vectors/template_injection.json")
                     .read_text())


def context(locale="en-US", customer_name="Jane Doe", **overrides):
    base = make_context(
        stage="approved", channel="email", locale=locale, message_id="m-1", store="shop",
        brand=BrandSettings(), customer_name=customer_name,
        ret={"reference": "R-1", "order_number": "#1", "state": "approved",
             "reason": "Wrong size", "currency": "EUR", "order_total": Decimal("58"),
             "refund_amount": Decimal("29.5"), "refund_method": "card", "carrier": "UPS",
             "tracking_number": "1Z", "tracking_url": "https://t.example/1Z",
             "label_url": "https://l.example/1.pdf"},
        details={"items": [{"name": "Tee", "sku": "T", "quantity": 2}]}, portal_url=None)
    base.update(overrides)
    return base


@pytest.mark.parametrize("stage", sorted(p.name for p in BUNDLED_TEMPLATES.iterdir()
                                         if p.is_dir() and (p / "email.subject.j2").exists()))
def test_every_bundled_template_renders_on_every_channel(stage):
    renderer = TemplateRenderer()
    for channel in CHANNEL_FILES:
        if not renderer.has(f"{stage}/{CHANNEL_FILES[channel][0]}"):
            continue
        rendered = renderer.render(stage, channel, context(stage=stage, channel=channel))
        assert "R-1" in (rendered.subject or "") + rendered.text
        if channel == "email":
            assert rendered.subject and "\n" not in rendered.subject
            assert rendered.html and "R-1" in rendered.html


def test_money_is_formatted_per_locale():
    renderer = TemplateRenderer()
    us = renderer.render("refunded", "sms", context(locale="en-US", channel="sms"))
    de = renderer.render("refunded", "email", context(locale="de-DE"))
    de_sms = renderer.render("refunded", "sms", context(locale="de-DE", channel="sms"))
    assert "€29.50" in us.text
    assert "29,50\xa0€" in de.text
    # SMS get GSM-7 stand-ins for typographic spaces (a no-break space would force UCS-2).
    assert "29,50 €" in de_sms.text


def test_html_is_escaped_and_text_is_not():
    renderer = TemplateRenderer()
    hostile = context(customer_name="<script>x</script>")
    rendered = renderer.render("approved", "email", hostile)
    assert "<script>" not in rendered.html and "&lt;script&gt;" in rendered.html
    assert "<script>x</script>" in rendered.text


def test_sandbox_blocks_escapes_and_undefined_names(tmp_path):
    for i, source in enumerate(VECTORS["must_fail_with_SecurityError"]):
        (tmp_path / f"evil{i}").mkdir()
        (tmp_path / f"evil{i}" / "sms.txt.j2").write_text(source)
    (tmp_path / "undefined").mkdir()
    (tmp_path / "undefined" / "sms.txt.j2").write_text("{{ config }}")
    renderer = TemplateRenderer(operator_dir=tmp_path)
    for i in range(len(VECTORS["must_fail_with_SecurityError"])):
        with pytest.raises((SecurityError, TemplateRenderError)):
            renderer.render(f"evil{i}", "sms", context())
    with pytest.raises(TemplateRenderError, match="undefined/sms.txt.j2: UndefinedError"):
        renderer.render("undefined", "sms", context())
    assert UndefinedError  # the renderer wraps it, naming the file


def test_operator_template_overrides_bundled_by_path(tmp_path):
    (tmp_path / "approved").mkdir()
    (tmp_path / "approved" / "sms.txt.j2").write_text("Custom {{ return.reference }}")
    renderer = TemplateRenderer(operator_dir=tmp_path)
    assert renderer.render("approved", "sms", context()).text == "Custom R-1"
    assert "approved" in renderer.render("approved", "email", context()).subject
