"""Every promotional email shows its unsubscribe link and the brand's postal address (found
from outside by a merchant: the bundled category_discount campaign set ``category`` itself,
which hid the layout's footer, so its emails showed neither)."""

from __future__ import annotations

import pytest

from hub.categories import CAMPAIGN_STAGE
from hub.config import Settings
from hub.content.samples import sample_context
from hub.content.verify import SAMPLE_UNSUBSCRIBE, campaign_templates
from hub.delivery.promotional import PromotionalPolicy
from hub.messages import OutboundMessage
from hub.templates import TemplateRenderer

ADDRESS = "Demo Store, 1 Main St, Springfield"
BUNDLED = [template for template, channels in campaign_templates(TemplateRenderer())
           if "email" in channels]


def test_the_bundled_campaigns_are_found() -> None:
    assert BUNDLED == ["campaigns/category_discount", "campaigns/exchange_offer"]


@pytest.mark.parametrize("template", BUNDLED)
@pytest.mark.parametrize("variant", ["full", "minimal"])
def test_bundled_campaign_emails_show_the_link_and_the_postal_address(template, variant):
    settings = Settings()
    settings.notifications.brand.postal_address = ADDRESS
    context = sample_context(settings, CAMPAIGN_STAGE, "email", variant=variant)
    context.update(category="promotional", unsubscribe_url=SAMPLE_UNSUBSCRIBE)
    message = TemplateRenderer().render(template, "email", context)
    for part in (message.text, message.html):
        assert SAMPLE_UNSUBSCRIBE in part and "1 Main St" in part


def test_a_promotional_email_that_hides_its_link_is_not_sent() -> None:
    policy = PromotionalPolicy(None, Settings().notifications, b"k" * 32, "https://hub.example")
    link = "https://hub.example/u/token"
    shown = OutboundMessage(message_id="m1", channel="email", to="a@example.com",
                            text=f"Offer\nUnsubscribe: {link}", html=f'<a href="{link}">x</a>')
    policy.decorate(shown, link)
    assert shown.headers["List-Unsubscribe"] == f"<{link}>"
    hidden = OutboundMessage(message_id="m2", channel="email", to="a@example.com",
                             text="Offer", html=f'<a href="{link}">x</a>')
    with pytest.raises(ValueError, match="unsubscribe link .* in its text part"):
        policy.decorate(hidden, link)
    sms = OutboundMessage(message_id="m3", channel="sms", to="+14155550100",
                          text="Offer. Reply STOP to opt out.")
    policy.decorate(sms, link)  # an SMS opts out by STOP, not by a link
