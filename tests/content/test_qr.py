"""A QR code for the drop-off code or label: inline PNG in email, the link in SMS."""

from __future__ import annotations

import base64
import re

from hub.config import Settings
from hub.content.qr import qr_context, qr_png_data_uri
from tests.content.support import claimed, make_composer

SETTINGS = Settings()
LABEL = "https://labels.example.com/returns/R-1001/label.pdf"


def png_of(html: str) -> bytes:
    tag = re.search(r'<img[^>]*class="qr-image"[^>]*>', html)
    assert tag, "no inline QR image"
    uri = re.search(r'src="data:image/png;base64,([^"]+)"', tag.group(0))
    return base64.b64decode(uri.group(1))


def test_dropoff_code_wins_over_the_label():
    qr = qr_context(dropoff_code="HR7F3K2Q", dropoff_url=None, label_url=LABEL,
                    portal_url="https://hub/p", with_image=True)
    assert qr["kind"] == "dropoff" and qr["payload"] == "HR7F3K2Q" and qr["link"] == LABEL
    assert str(qr["image"]) == qr_png_data_uri("HR7F3K2Q")[0]
    assert 150 <= int(qr["size"]) <= 220 and str(qr["size"]) == str(qr["image"].size)
    label_only = qr_context(dropoff_code=None, dropoff_url=None, label_url=LABEL,
                            portal_url=None, with_image=False)
    assert label_only["kind"] == "label" and label_only["image"] is None
    assert qr_context(dropoff_code=None, dropoff_url=None, label_url=None, portal_url=None,
                      with_image=True) is None


def test_email_embeds_the_qr_of_the_dropoff_code_from_the_details():
    composer = make_composer(SETTINGS)
    item = claimed(composer, stage="label_created", label_url=LABEL,
                   details={"dropoff": {"code": "HR7F3K2Q", "url": "https://qr.example/HR7F3K2Q",
                                        "expires_at": "2026-12-08T00:00:00+00:00"}})
    message = composer.compose(item)
    assert png_of(message.html).startswith(b"\x89PNG\r\n\x1a\n")
    assert qr_png_data_uri("HR7F3K2Q")[0] in message.html
    assert "HR7F3K2Q" in message.text and "December 8, 2026" in message.text
    sms = composer.compose(claimed(composer, stage="label_created", channel="sms",
                                     label_url=LABEL, to="+14155550100",
                                     details={"dropoff": {"code": "HR7F3K2Q",
                                                          "url": "https://qr.example/HR7F3K2Q"}}))
    assert "HR7F3K2Q" in sms.text and "https://qr.example/HR7F3K2Q" in sms.text


def test_without_a_code_the_qr_encodes_the_label_url():
    composer = make_composer(SETTINGS)
    message = composer.compose(claimed(composer, stage="approved", label_url=LABEL))
    assert qr_png_data_uri(LABEL)[0] in message.html
    sms = composer.compose(claimed(composer, stage="approved", channel="sms",
                                     label_url=LABEL, to="+14155550100"))
    assert f"Label: {LABEL}" in sms.text


def test_the_image_is_made_only_when_a_template_prints_it():
    qr_png_data_uri.cache_clear()
    composer = make_composer(SETTINGS)
    composer.compose(claimed(composer, stage="in_transit", label_url=LABEL + "?lazy"))
    assert qr_png_data_uri.cache_info().misses == 0  # in_transit has no QR block
    composer.compose(claimed(composer, stage="approved", label_url=LABEL + "?lazy"))
    composer.compose(claimed(composer, stage="label_created", label_url=LABEL + "?lazy"))
    assert qr_png_data_uri.cache_info().misses == 1  # made once, shared by both emails


def test_no_qr_without_label_or_code():
    composer = make_composer(SETTINGS)
    message = composer.compose(claimed(composer, stage="approved"))
    assert "qr-image" not in message.html and "data:image" not in message.html
    assert "We will email your return label shortly." in message.text


def test_only_http_links_reach_a_message():
    composer = make_composer(SETTINGS)
    message = composer.compose(claimed(composer, stage="label_created",
                                         label_url="javascript:alert(1)",
                                         tracking_url="data:text/html,x"))
    assert "javascript:" not in message.html and "data:text" not in message.html
