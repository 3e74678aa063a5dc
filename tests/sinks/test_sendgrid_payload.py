"""build_mail's plain dict is the body the SDK's ``Mail`` helpers build, and it refuses what
the helper-based builder refused."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sendgrid.helpers.mail import (
    Category,
    CustomArg,
    Email,
    Mail,
    MailSettings,
    ReplyTo,
    SandBoxMode,
    To,
)
from sendgrid.helpers.mail.exceptions import ApiKeyIncludedException

from hub.errors import MessageRejected, RecipientRefused
from hub.messages import OutboundMessage
from returnhub_sendgrid.config import SendGridSettings
from returnhub_sendgrid.payload import ARG_PREFIX, MESSAGE_ID_ARG, build_mail, categories_for

from .support import approved_email, load_fixture

API_KEY = "SG.test-secret-key-0123456789.abcdefghij"
#: What the SDK's content check takes for an API key (letters and digits only).
KEY_LIKE = "SG.aBc0123456789.xYz0123456789"
SETTINGS = SendGridSettings(api_key=API_KEY, from_address="returns@shop.example",
                            from_name="Shop Returns")


def message(**overrides) -> OutboundMessage:
    """A return-approved email with everything build_mail uses."""
    return approved_email(overrides.pop("to", "jane@example.com"), **overrides)


def sdk_body(sent: OutboundMessage, config: SendGridSettings) -> dict:
    """The reference: the body as the SDK's helpers build it (build_mail's former way)."""
    from_address = sent.from_address or config.from_address
    from_name = sent.from_name if sent.from_address else config.from_name
    mail = Mail(from_email=Email(from_address, from_name), to_emails=To(sent.to),
                subject=sent.subject, plain_text_content=sent.text or None,
                html_content=sent.html or None)
    args = {f"{ARG_PREFIX}{key}": str(value) for key, value in sent.metadata.items()}
    args[MESSAGE_ID_ARG] = sent.message_id
    mail.custom_arg = [CustomArg(key, value) for key, value in args.items()]
    categories = categories_for(sent)
    if categories:
        mail.category = [Category(name) for name in categories]
    if sent.reply_to:
        mail.reply_to = ReplyTo(sent.reply_to)
    if config.sandbox_mode:
        mail_settings = MailSettings()
        mail_settings.sandbox_mode = SandBoxMode(True)
        mail.mail_settings = mail_settings
    return mail.get()


def assert_same_body(sent: OutboundMessage, config: SendGridSettings = SETTINGS) -> None:
    """Equal as data and as the bytes the sink posts."""
    body, reference = build_mail(sent, config, "mail"), sdk_body(sent, config)
    assert body == reference
    assert orjson.dumps(body) == orjson.dumps(reference)


SANDBOX = SETTINGS.model_copy(update={"sandbox_mode": True})
NO_NAME = SendGridSettings(api_key=API_KEY, from_address="returns@shop.example")

CASES = {
    "everything": (message(), SETTINGS),
    "text only": (message(html=None), SETTINGS),
    "html only": (message(text=""), SETTINGS),
    "no reply_to": (message(reply_to=None), SETTINGS),
    "no sender name": (message(from_name=None), SETTINGS),
    "empty sender name": (message(from_name=""), SETTINGS),
    "sink's sender and name": (message(from_address=None, from_name=None), SETTINGS),
    "sink's sender without name": (message(from_address=None), NO_NAME),
    "sandbox mode": (message(), SANDBOX),
    "no metadata, no template": (message(metadata={}, template=None), SETTINGS),
    "template only": (message(metadata={"return": "RMA-1"}), SETTINGS),
    "stage only": (message(template=None), SETTINGS),
    "template equals stage": (message(template="approved"), SETTINGS),
    "long category": (message(template="t" * 300), SETTINGS),
    "many args": (message(metadata={f"k{i}": f"v{i}" for i in range(12)}), SETTINGS),
    "non-string arg": (message(metadata={"count": 3, "stage": "approved"}), SETTINGS),
    "arg named like the message id": (message(metadata={"message_id": "spoof"}), SETTINGS),
    "non-ascii and emoji": (message(subject="Rücksendung genehmigt ✅", from_name="Zoë's Shop",
                                    text="Grüße 🎉", html="<p>Grüße 🎉</p>"), SETTINGS),
    "name with comma and semicolon": (message(from_name="Doe, Jane; Shop"), SETTINGS),
    "key-like text not at the start": (message(text=f"your key: {KEY_LIKE}"), SETTINGS),
    "key with dashes at the start": (message(text=f"{API_KEY} is not one to the SDK"), SETTINGS),
}


@pytest.mark.parametrize(("sent", "config"), CASES.values(), ids=CASES.keys())
def test_the_dict_is_the_sdk_body(sent, config) -> None:
    assert_same_body(sent, config)


metadata = st.dictionaries(st.text(max_size=12), st.text(max_size=20), max_size=6)
optional_text = st.none() | st.text(max_size=40)


@settings(max_examples=200, deadline=None)
@given(meta=metadata, template=optional_text, name=optional_text, reply=st.booleans(),
       text=st.text(max_size=60), html=optional_text, subject=st.text(min_size=1, max_size=60),
       sandbox=st.booleans())
def test_any_message_gives_the_sdk_body(meta, template, name, reply, text, html, subject,
                                        sandbox) -> None:
    sent = message(metadata=meta, template=template, from_name=name, text=text, html=html,
                   subject=subject, reply_to="help@example.com" if reply else None)
    config = SANDBOX if sandbox else SETTINGS
    try:
        build_mail(sent, config, "mail")
    except MessageRejected:
        return  # no content, a line break: refused before any body (see the tests below)
    assert_same_body(sent, config)


def test_addresses_are_sent_as_validated() -> None:
    """The helpers re-read each address with email.utils.parseaddr, which turns some that pass
    validation into a bare name: a sender without an address (SendGrid refused the body), a
    recipient the helpers then failed on. The dict carries the addresses as validated."""
    odd = "a[b@example.com"
    reference = sdk_body(message(from_name=None, from_address=odd, reply_to=odd), SETTINGS)
    assert (reference["from"], reference["reply_to"]) == ({"name": "a"}, {"name": "a"})
    with pytest.raises(KeyError):
        sdk_body(message(to=odd), SETTINGS)
    body = build_mail(message(to=odd, from_name=None, from_address=odd, reply_to=odd),
                      SETTINGS, "mail")
    assert body["personalizations"] == [{"to": [{"email": odd}]}]
    assert body["from"] == body["reply_to"] == {"email": odd}


# -- refusals, unchanged ----------------------------------------------------------------------

INJECTIONS = [case["value"] for case in load_fixture("header_injection.json")["cases"][:3]]
NO_SENDER = SendGridSettings(api_key=API_KEY)


@pytest.mark.parametrize(("sent", "config"), [
    (message(from_address=None), NO_SENDER),
    (message(subject=None), SETTINGS),
    (message(subject=""), SETTINGS),
    (message(text="", html=None), SETTINGS),
    (message(from_address="not-an-address"), SETTINGS),
    (message(reply_to="Help <help@example.com>"), SETTINGS),
    *[(message(**{field: value}), SETTINGS) for value in INJECTIONS
      for field in ("subject", "from_name", "to", "from_address", "reply_to")],
])
def test_invalid_messages_are_rejected(sent, config) -> None:
    with pytest.raises(MessageRejected) as caught:
        build_mail(sent, config, "mail")
    assert "evil" not in str(caught.value)


@pytest.mark.parametrize("bad", ["not-an-address", "Jane <jane@example.com>", "a@b c", "a@b,c@d"])
def test_a_malformed_recipient_is_refused(bad) -> None:
    with pytest.raises(RecipientRefused):
        build_mail(message(to=bad), SETTINGS, "mail")


@pytest.mark.parametrize("field", ["text", "html"])
def test_content_starting_with_an_api_key_is_refused_as_the_sdk_did(field) -> None:
    sent = message(**{field: f"{KEY_LIKE} was pasted here"})
    with pytest.raises(ApiKeyIncludedException):
        sdk_body(sent, SETTINGS)
    with pytest.raises(MessageRejected) as caught:
        build_mail(sent, SETTINGS, "mail")
    assert KEY_LIKE not in str(caught.value)
