"""SMS and portal notices never promise or point to an email: they are the fallback channels
when the stage's email bounced or failed for good (``[notifications.stages.<stage>] fallback``),
so "we will email you" or "details are in your email" would be untrue exactly then."""

from __future__ import annotations

import re

import pytest

from hub.config import Settings
from hub.content.preview import preview
from hub.templates import TemplateRenderer
from tests.content.support import LOCALES, STAGES

SETTINGS = Settings()
RENDERER = TemplateRenderer()
#: "email", "e-mail", "E-Mail", "courriel" in any case; addresses are removed first.
EMAIL_WORDS = re.compile(r"e-?mail|courriel", re.I)


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("channel", ["sms", "portal"])
def test_fallback_channels_do_not_mention_email(channel, stage, locale):
    for variant in ("full", "minimal"):
        text = preview(SETTINGS, RENDERER, stage, channel, locale, variant=variant).text
        words = re.sub(r"\S+@\S+", "", text)
        assert not EMAIL_WORDS.search(words), (variant, text)
