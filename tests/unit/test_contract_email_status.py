"""hub.contract's email checks, status-batch helper and settings mixins."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import Field, ValidationError

from hub.contract import (
    DeliveryStatus,
    HttpSinkSettings,
    MessageRejected,
    OutboundMessage,
    RecipientRefused,
    RequestRejected,
    SenderSettings,
    StatusUpdate,
    WebhookSecretSettings,
    check_email,
    event_time,
    hashed_event_id,
    parse_batch,
    reason_text,
)

NOW = datetime(2026, 12, 3, tzinfo=UTC)


def email(**fields) -> OutboundMessage:
    base = {"message_id": "ntf_1", "channel": "email", "to": "jane@example.com",
            "subject": "Approved", "text": "Hello"}
    return OutboundMessage(**{**base, **fields})


def test_the_sinks_sender_is_used_when_the_message_names_none() -> None:
    fields = check_email(email(), "mail", from_address="shop@example.com", from_name="Shop")
    assert (fields.sender, fields.sender_name) == ("shop@example.com", "Shop")
    own = check_email(email(from_address="me@example.com"), "mail",
                      from_address="shop@example.com", from_name="Shop")
    assert (own.sender, own.sender_name) == ("me@example.com", None)


@pytest.mark.parametrize(("fields", "error", "text"), [
    ({}, MessageRejected, "no sender address"),
    ({"from_address": "s@example.com", "subject": ""}, MessageRejected, "no subject"),
    ({"from_address": "s@example.com", "text": "", "html": None}, MessageRejected, "neither"),
    ({"from_address": "s@example.com", "subject": "a\r\nBcc: x@evil.test"}, MessageRejected,
     "the subject contains a line break"),
    ({"from_address": "s@example.com", "from_name": "A\nB"}, MessageRejected,
     "the sender name contains a line break"),
    ({"from_address": "s@example.com", "reply_to": "r@example.com\nBcc: x"}, MessageRejected,
     "the reply to contains a line break"),
    ({"from_address": "s@example.com", "to": "not-an-address"}, RecipientRefused,
     "recipient is not a valid address"),
    ({"from_address": "nobody"}, MessageRejected, "sender or reply_to"),
    ({"from_address": "s@example.com", "reply_to": "nobody"}, MessageRejected,
     "sender or reply_to"),
])
def test_refusals_name_the_field_not_the_value(fields, error, text) -> None:
    with pytest.raises(error) as caught:
        check_email(email(**fields), "mail")
    assert text in str(caught.value) and type(caught.value) is error
    assert "evil" not in str(caught.value) and "not-an-address" not in str(caught.value)


def read(event: dict) -> StatusUpdate | None:
    """A provider's one-event reading: ``{"id", "what", "at"}``."""
    status = {"delivered": DeliveryStatus.DELIVERED}.get(event["what"])
    if status is None:
        return None
    return StatusUpdate(status=status, occurred_at=event_time(event.get("at"), NOW),
                        provider_message_id=str(event["id"]),
                        event_id=hashed_event_id("t:", event), raw=event)


def test_one_odd_event_does_not_cost_the_rest_of_the_batch() -> None:
    batch = [{"id": "a", "what": "delivered", "at": 1},
             {"id": "b", "what": ["delivered"]},  # unhashable: TypeError in the lookup
             {"id": "c"},  # KeyError
             {"id": "d", "what": "opened"},  # not recorded
             {"id": "e", "what": "delivered", "at": 10**20}]
    updates = parse_batch(batch, read, provider="t")
    assert [u.provider_message_id for u in updates] == ["a", "e"]
    assert updates[0].occurred_at == datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert updates[1].occurred_at == NOW  # impossible time: the time of receipt


@pytest.mark.parametrize(("batch", "field"), [
    ({}, "events"), ("[]", "events"), ([{"what": "delivered", "id": 1}, 2], "events[1]")])
def test_a_batch_of_the_wrong_shape_is_rejected_by_field(batch, field) -> None:
    with pytest.raises(RequestRejected) as caught:
        parse_batch(batch, read, field="events")
    assert caught.value.field == field


def test_hashed_ids_ignore_key_order_and_differ_by_content() -> None:
    one = hashed_event_id("t:", {"a": 1, "b": 2})
    assert one == hashed_event_id("t:", {"b": 2, "a": 1}) and one.startswith("t:")
    assert one != hashed_event_id("t:", {"a": 1, "b": 3})
    assert hashed_event_id("m:", "x", 1) != hashed_event_id("m:", "x1")


def test_reasons_are_masked_and_short() -> None:
    assert reason_text("550 <jane@example.com> unknown") == "550 <[email]> unknown"
    assert len(reason_text("x" * 1000)) == 300 and reason_text(None) == ""


class Settings(HttpSinkSettings, SenderSettings, WebhookSecretSettings):
    base_url: str = Field("https://api.example.com", description="API base URL.")


def test_settings_mixins_check_what_they_declare() -> None:
    settings = Settings(base_url="http://127.0.0.1:8000//", webhook_secret="s1",
                        previous_webhook_secret="s0")
    assert settings.base_url == "http://127.0.0.1:8000"
    assert settings.secret_values() == ["s1", "s0"]
    for bad in ({"base_url": "ftp://x"}, {"from_name": "Shop"}, {"webhook_secret": ""},
                {"read_timeout_seconds": 0}, {"connect_timeout_seconds": -1}):
        with pytest.raises(ValidationError):
            Settings(**{"webhook_secret": "s1", **bad})


def test_a_provider_that_judges_recipients_itself_gets_them_unchecked() -> None:
    fields = check_email(email(to="invalid@localhost"), "mail", from_address="s@example.com",
                         check_recipient=False)
    assert fields.to == "invalid@localhost"
    with pytest.raises(MessageRejected, match="the recipient contains a line break"):
        check_email(email(to="a@example.com\nBcc: b@example.com"), "mail",
                    from_address="s@example.com", check_recipient=False)
