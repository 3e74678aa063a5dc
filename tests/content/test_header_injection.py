"""Nothing in a message can inject an email header: every vector of header_injection.json
ends up on one line, and the message builds and serializes with exactly one of each header."""

from __future__ import annotations

import json
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from hub.config import Settings
from returnhub_smtp.config import SmtpSettings
from returnhub_smtp.message import build_email
from tests.content.support import claimed, make_composer

VECTORS = json.loads((Path(__file__).resolve().parents[3] / "shared/reference/vectors/"
                      "header_injection.json").read_text()) \
    if (Path(__file__).resolve().parents[3] / "shared/reference/vectors/"
        "header_injection.json").exists() else None
CASES = VECTORS["cases"] if VECTORS else [
    {"field": "Subject", "value": "Return approved\r\nBcc: attacker@evil.test"},
    {"field": "Subject", "value": "Return approved\nBcc: attacker@evil.test"},
    {"field": "To (display name)", "value": "Jane\r\nBcc: x@evil.test <jane@example.test>"},
    {"field": "SMS body", "value": "Your return RMA-1\u202eexe.pdf"},
]
HEADER_CASES = [c["value"] for c in CASES if c["field"] != "SMS body"]
SMTP = SmtpSettings(host="127.0.0.1", from_address="returns@demo.example")


def serialized_headers(message) -> list[str]:
    email, _sender, _mid = build_email(message, SMTP, "smtp")
    parsed = message_from_bytes(email.as_bytes(), policy=policy.default)
    return [name.lower() for name in parsed.keys()]


@pytest.mark.parametrize("value", HEADER_CASES)
@pytest.mark.parametrize("where", ["reference", "customer", "reason"])
def test_data_in_the_subject_stays_on_one_line(tmp_path, value, where):
    (tmp_path / "approved").mkdir()
    (tmp_path / "approved" / "email.subject.j2").write_text(
        "{{ return.reference }} {{ customer.name }} {{ return.reason }} approved")
    from hub.templates import TemplateRenderer

    composer = make_composer(Settings(), TemplateRenderer(operator_dir=tmp_path))
    fields = {"external_id": value} if where == "reference" else \
        {"reason": value} if where == "reason" else {}
    item = claimed(composer, name=value if where == "customer" else "Jane", **fields)
    message = composer.compose(item)
    assert "\r" not in message.subject and "\n" not in message.subject
    headers = serialized_headers(message)
    assert "bcc" not in headers and headers.count("subject") == 1


@pytest.mark.parametrize("value", HEADER_CASES)
def test_a_store_display_name_cannot_add_a_header(value):
    settings = Settings(notifications={"brands": {"evil": {"from_name": value,
                                                           "store_name": value}}})
    composer = make_composer(settings)
    message = composer.compose(claimed(composer, source="evil"))
    assert "\n" not in message.from_name and "\r" not in message.from_name
    assert "bcc" not in serialized_headers(message)


def test_bidi_controls_are_removed_from_sms_and_email():
    value = next(c["value"] for c in CASES if c["field"] == "SMS body")
    composer = make_composer(Settings())
    for channel in ("sms", "email"):
        message = composer.compose(claimed(composer, channel=channel, external_id=value,
                                             name=value, to="+14155550100"))
        for text in (message.text, message.subject or "", message.html or ""):
            assert not any(0x202A <= ord(c) <= 0x202E or 0x2066 <= ord(c) <= 0x2069
                           for c in text)
        assert "RMA-1exe.pdf" in message.text
