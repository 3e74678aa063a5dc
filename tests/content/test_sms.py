"""SMS counting lives in the core; the Twilio plugin re-exports it."""

from __future__ import annotations

import returnhub_twilio
from hub.content import sms
from returnhub_twilio import segments


def test_twilio_plugin_reuses_the_core_counter():
    assert segments.count_segments is sms.count_segments
    assert returnhub_twilio.count_segments is sms.count_segments
    assert segments.SegmentCount is sms.SegmentCount and segments.GSM7_BASIC is sms.GSM7_BASIC


def test_normalize_keeps_texts_in_gsm7():
    text = "Store\u00a0: refund 29,00\u202f€ \u2013 \u201cthanks\u201d\u2026\u200b"
    normalized = sms.normalize_sms(text)
    assert normalized == 'Store : refund 29,00 € - "thanks"...'
    assert sms.encoding_of(normalized) == sms.GSM7 and sms.encoding_of(text) == sms.UCS2


def test_normalize_collapses_template_whitespace():
    assert sms.normalize_sms("  a   b \n\n\n c  ") == "a b\nc"


def test_segment_limits():
    assert sms.count_segments("a" * 160).segments == 1
    assert sms.count_segments("a" * 161).segments == 2
    assert sms.count_segments("é" * 160).segments == 1  # é is GSM-7
    assert sms.count_segments("ô" * 70).segments == 1 and sms.count_segments("ô" * 71).segments == 2
