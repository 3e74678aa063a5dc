"""The Odoo example maps how a refund reaches the customer, not the credit note's accounting
type: the refunded message of the documented record says "to your original payment method",
never "via out refund" (``refund_id.move_type`` is ``out_refund`` on every Odoo credit note)."""

from __future__ import annotations

import pytest

from hub.config import Settings
from hub.content.samples import sample_context
from hub.templates import TemplateRenderer
from returnhub_erp.source import ErpSource

from .erp_helpers import odoo_settings
from .test_erp_webhooks import parse, records

RENDERER = TemplateRenderer()
PHRASES = {"en-US": "to your original payment method",
           "fr-FR": "sur votre moyen de paiement d'origine",
           "de-DE": "auf Ihre ursprüngliche Zahlungsart"}


def refunded_texts(refund_method: str | None, locale: str) -> list[str]:
    texts = []
    for channel in ("email", "sms", "portal"):
        context = sample_context(Settings(), "refunded", channel, locale=locale)
        context["return"]["refund_method"] = refund_method
        message = RENDERER.render("refunded", channel, context)
        texts += [message.text, message.html or "", message.subject or ""]
    return texts


@pytest.fixture
def source(make_context) -> ErpSource:
    return ErpSource(odoo_settings(), make_context("odoo"))


@pytest.mark.parametrize("locale", PHRASES)
async def test_the_refunded_message_names_the_method_not_the_move_type(source, locale):
    [event] = await parse(source, records()[44])
    assert event.refund_method == "original_payment"
    texts = refunded_texts(event.refund_method, locale)
    assert PHRASES[locale] in texts[0]  # the email's text part
    for text in texts:
        assert "out refund" not in text.lower() and "out_refund" not in text


async def test_without_the_field_the_message_gives_the_amount_only(source):
    record = {k: v for k, v in records()[44].items() if k != "x_refund_method"}
    [event] = await parse(source, record)
    assert event.refund_method is None
    text = refunded_texts(event.refund_method, "en-US")[0]
    assert "29.00" in text and " via " not in text and "out refund" not in text.lower()
