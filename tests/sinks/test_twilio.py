"""Twilio SMS sink: the SDK's async path against FakeTwilio, number normalization, segment
counting, signed status callbacks and STOP replies."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from hub.contract.testing import HttpSinkContract
from hub.errors import (
    MessageRejected,
    OutcomeUnknown,
    ProviderMisconfigured,
    RateLimited,
    RecipientRefused,
    RequestRejected,
    SignatureError,
)
from hub.messages import DeliveryStatus, OutboundMessage
from hub.testing.fake_twilio import FakeTwilio, num_segments, twilio_signature
from returnhub_twilio import TwilioSmsSink, count_segments
from returnhub_twilio.config import TwilioSmsSettings
from returnhub_twilio.phone import to_e164
from returnhub_twilio.status import IDEMPOTENCY_HEADER, parse_webhook

from .support import PUBLIC_URL, form_request, inbound, load_fixture, make_context

ACCOUNT = "AC" + "a1" * 16
TOKEN = "twilio-test-auth-token-0123456789"
SENDER = "+15005550006"
RECIPIENT = "+14158675309"
WEBHOOK_URL = f"{PUBLIC_URL}/webhooks/sms"
VECTORS = load_fixture("twilio_request_validator.json")
TEST_NUMBERS = load_fixture("twilio_test_numbers.json")


def message(to: str = RECIPIENT, **overrides) -> OutboundMessage:
    """A return-approved SMS."""
    fields = {"message_id": "ntf_01HZY3", "channel": "sms", "to": to,
              "text": "Your return RMA-1001 was approved.",
              "metadata": {"return": "RMA-1001", "stage": "approved"},
              "template": "return_approved"}
    return OutboundMessage(**{**fields, **overrides})


def make_sink(base_url: str, http=None, public_url: str = PUBLIC_URL, **settings
              ) -> TwilioSmsSink:
    """A Twilio sink named ``sms``."""
    values = {"account_sid": ACCOUNT, "auth_token": TOKEN, "base_url": base_url, **settings}
    if "messaging_service_sid" not in values:
        values.setdefault("from_number", SENDER)
    return TwilioSmsSink(TwilioSmsSettings(**values),
                         make_context("sms", http=http, public_url=public_url))


@pytest.fixture
async def fake() -> AsyncIterator[FakeTwilio]:
    """A fake Twilio for our account."""
    async with FakeTwilio(account_sid=ACCOUNT, auth_token=TOKEN) as server:
        yield server


@pytest.fixture
async def sink(fake: FakeTwilio, http) -> AsyncIterator[TwilioSmsSink]:
    """A started sink on the shared session."""
    instance = make_sink(fake.url, http, read_timeout_seconds=0.5)
    await instance.start()
    yield instance
    await instance.close()


class TestTwilioContract(HttpSinkContract):
    """The shared sink contract."""

    sink_class = TwilioSmsSink
    secrets = [TOKEN]
    status_headers = ["X-Twilio-Signature", "X-Twilio-Webhooks-Signature-Settings"]

    build = staticmethod(make_sink)

    def message(self, to: str | None = None) -> OutboundMessage:
        return message(to or RECIPIENT, message_id=f"ntf_{uuid.uuid4().hex}")

    def break_provider(self, provider: FakeTwilio) -> None:
        # Twilio's one answer that says nothing was taken: 20429 (a 5xx may follow a create).
        provider.rate_limit_next(1)

    def status_request(self, headers: dict[str, str]):
        return form_request({"MessageSid": "SM" + "0" * 32, "MessageStatus": "delivered"},
                            headers, url=f"{WEBHOOK_URL}?mid=ntf_1")

    def signed_status_request(self, provider: FakeTwilio, message: OutboundMessage, result):
        record = next(r for r in provider.records if r["sid"] == result.provider_message_id)
        url = f"{WEBHOOK_URL}?mid={message.message_id}"
        params = provider.status_params(record, "delivered")
        return form_request(params, {"X-Twilio-Signature": provider.sign(url, params),
                                     IDEMPOTENCY_HEADER: "tok-contract"}, url=url)


# -- sending ---------------------------------------------------------------------------------


async def test_happy_path_normalizes_the_number_and_counts_segments(sink, fake) -> None:
    result = await sink.send(message(to="(415) 867-5309"))
    record = fake.records[-1]
    assert result.provider_message_id == record["sid"] and record["sid"].startswith("SM")
    assert result.detail == "segments=1 encoding=GSM-7"
    sent = record["request"]
    assert sent["To"] == RECIPIENT and sent["From"] == SENDER
    assert sent["StatusCallback"] == f"{PUBLIC_URL}/webhooks/sms?mid=ntf_01HZY3"
    assert record["resource"]["status"] == "queued"


async def test_the_core_callback_url_wins(sink, fake) -> None:
    await sink.send(message(status_callback_url="https://hub.example.test/webhooks/sms?mid=x"))
    assert fake.records[-1]["request"]["StatusCallback"].endswith("?mid=x")


async def test_messaging_service_and_api_key_auth(http) -> None:
    key_sid, key_secret = "SK" + "b2" * 16, "api-key-secret-value"
    service = "MG" + "c3" * 16
    async with FakeTwilio(account_sid=ACCOUNT, auth_token=TOKEN,
                          api_keys={key_sid: key_secret}) as fake:
        sink = make_sink(fake.url, http, messaging_service_sid=service, api_key_sid=key_sid,
                         api_key_secret=key_secret)
        await sink.start()
        await sink.send(message())
    record = fake.records[-1]
    assert record["request"]["MessagingServiceSid"] == service
    assert "From" not in record["request"]
    assert record["resource"]["status"] == "accepted"


@pytest.mark.parametrize("settings", [
    {"from_number": SENDER, "messaging_service_sid": "MG" + "0" * 32},
    {"from_number": None},
    {"account_sid": "AB" + "0" * 32},
    {"messaging_service_sid": "MG123", "from_number": None},
    {"api_key_sid": "SK" + "0" * 32},
    {"default_region": "Atlantis"},
    {"base_url": "api.twilio.com"},
])
def test_config_refuses_inconsistent_settings(settings) -> None:
    values = {"account_sid": ACCOUNT, "auth_token": TOKEN, "from_number": SENDER, **settings}
    with pytest.raises(ValidationError):
        TwilioSmsSettings(**{k: v for k, v in values.items() if v is not None})


@pytest.mark.parametrize("number", ["not a number", "12", "+1 555 0100", "07700 900123"])
async def test_invalid_numbers_are_refused_before_sending(sink, fake, number) -> None:
    with pytest.raises(RecipientRefused) as caught:
        await sink.send(message(to=number))
    assert fake.request_count == 0
    assert "0100" not in str(caught.value) and "900123" not in str(caught.value)


@pytest.mark.parametrize(("to", "code"), [("+15005550001", 21211), ("+15005550002", 21612),
                                          ("+15005550004", 21610), ("+15005550009", 21614)])
async def test_twilio_recipient_errors_are_recipient_refused(sink, to, code) -> None:
    with pytest.raises(RecipientRefused) as caught:
        await sink.send(message(to=to))
    assert str(code) in str(caught.value)
    assert to not in str(caught.value) and to[2:] not in str(caught.value)


async def test_a_number_that_texted_stop_is_refused(sink, fake) -> None:
    fake.opted_out.add(RECIPIENT)
    with pytest.raises(RecipientRefused, match="21610"):
        await sink.send(message())


@pytest.mark.parametrize("case", TEST_NUMBERS["cases"][1:], ids=lambda c: c["from"])
async def test_sender_test_numbers_are_misconfiguration(fake, http, case) -> None:
    sink = make_sink(fake.url, http, from_number=case["from"])
    await sink.start()
    with pytest.raises(ProviderMisconfigured) as caught:
        await sink.send(message())
    assert str(case["expect_error"]) in str(caught.value)
    assert case["from"] not in str(caught.value)


async def test_region_permission_is_misconfiguration(sink) -> None:
    with pytest.raises(ProviderMisconfigured, match="21408"):
        await sink.send(message(to="+15005550003"))


async def test_wrong_token_is_misconfiguration_without_the_token(fake, http) -> None:
    wrong = "wrong-token-that-must-not-leak"
    sink = make_sink(fake.url, http, auth_token=wrong)
    await sink.start()
    with pytest.raises(ProviderMisconfigured) as caught:
        await sink.send(message())
    assert caught.value.status == 401 and "20003" in str(caught.value)
    assert wrong not in str(caught.value) and ACCOUNT not in str(caught.value)


async def test_rate_limit_keeps_retry_after(sink, fake) -> None:
    fake.rate_limit_next(1, retry_after=4)
    with pytest.raises(RateLimited) as caught:
        await sink.send(message())
    assert caught.value.retry_after == 4 and caught.value.status == 429


@pytest.mark.parametrize("status", [500, 503])
async def test_server_errors_are_outcome_unknown(sink, fake, status) -> None:
    """A 5xx can come after Twilio created the message: reconcile before any resend."""
    fake.fail_after_accept_next(1, status)
    with pytest.raises(OutcomeUnknown) as caught:
        await sink.send(message())
    assert caught.value.status == status and RECIPIENT not in str(caught.value)
    assert len(fake.records) == 1  # it was taken


async def test_silence_after_sending_is_outcome_unknown(sink, fake) -> None:
    fake.go_silent(1)
    with pytest.raises(OutcomeUnknown):
        await sink.send(message())
    assert len(fake.records) == 1


# -- reconcile ---------------------------------------------------------------------------------


async def test_reconcile_pages_through_the_list_past_the_newest_messages(sink, fake) -> None:
    """Ours went out first; 150 later texts to the same number fill more than a page."""
    ours = message(sent_after=datetime.now(UTC))
    await sink.send(ours)
    for n in range(150):
        await sink.send(message(text=f"Other text {n}"))
    assert await sink.reconcile(ours, None) is DeliveryStatus.ACCEPTED
    assert await sink.reconcile(message(text="Never sent", sent_after=ours.sent_after),
                                None) is DeliveryStatus.NOT_FOUND


async def test_reconcile_ignores_the_same_text_sent_before_the_intent(sink, fake) -> None:
    """The same stage's text from before the send intent (minus the skew) is not ours."""
    await sink.send(message())
    later = message(sent_after=datetime.now(UTC) + timedelta(hours=1))
    assert await sink.reconcile(later, None) is DeliveryStatus.NOT_FOUND
    assert await sink.reconcile(message(sent_after=datetime.now(UTC)), None) \
        is DeliveryStatus.ACCEPTED


async def test_reconcile_cannot_tell_while_the_list_is_unavailable(sink, fake) -> None:
    await sink.send(message())
    fake.fail_reads(503)
    assert await sink.reconcile(message(sent_after=datetime.now(UTC)), None) is None
    fake.reset_faults()
    assert await sink.reconcile(message(sent_after=datetime.now(UTC)), None) \
        is DeliveryStatus.ACCEPTED


@pytest.mark.parametrize("text", ["", "   ", "x" * 1601])
async def test_empty_or_too_long_texts_are_rejected_locally(sink, fake, text) -> None:
    with pytest.raises(MessageRejected):
        await sink.send(message(text=text))
    assert fake.request_count == 0


# -- numbers and segments ----------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "region", "e164"), [
    ("(415) 867-5309", "US", "+14158675309"), ("+1 415 867 5309", "GB", "+14158675309"),
    ("030 123456", "DE", "+4930123456"), ("+44 20 7946 0958", "US", "+442079460958"),
    ("415.867.5309", "US", "+14158675309")])
def test_numbers_are_normalized_to_e164(raw, region, e164) -> None:
    assert to_e164(raw, region) == e164


@pytest.mark.parametrize(("text", "segments", "encoding"), [
    ("", 0, "GSM-7"), ("a" * 160, 1, "GSM-7"), ("a" * 161, 2, "GSM-7"),
    ("a" * 306, 2, "GSM-7"), ("a" * 307, 3, "GSM-7"),
    ("€" * 80, 1, "GSM-7"), ("€" * 81, 2, "GSM-7"),
    ("[]{}" * 20, 1, "GSM-7"), ("[]{}" * 21, 2, "GSM-7"),
    ("a" * 152 + "€" + "a" * 152, 3, "GSM-7"),  # the € may not straddle two segments
    ("Return apprové ÄÖÜ ñ", 1, "GSM-7"),
    ("ł" * 70, 1, "UCS-2"), ("ł" * 71, 2, "UCS-2"), ("ł" * 134, 2, "UCS-2"),
    ("ł" * 135, 3, "UCS-2"), ("😀" * 35, 1, "UCS-2"), ("😀" * 36, 2, "UCS-2"),
    ("Your return is approved ✅", 1, "UCS-2")])
def test_segment_counting(text, segments, encoding) -> None:
    count = count_segments(text)
    assert (count.segments, count.encoding) == (segments, encoding)
    assert str(count) == f"segments={segments} encoding={encoding}"


@pytest.mark.parametrize("text", ["Hello", "x" * 500, "€ and {braces}" * 20, "ł" * 200,
                                  "Danke schön! " * 30])
def test_segment_counting_agrees_with_the_fake(text) -> None:
    assert count_segments(text).segments == num_segments(text)


async def test_ucs2_detail_in_the_send_result(sink) -> None:
    result = await sink.send(message(text="Zwrot przyjęty ✅ " * 5))
    assert result.detail == "segments=2 encoding=UCS-2"


# -- signatures --------------------------------------------------------------------------------


def vector_sink() -> TwilioSmsSink:
    """A sink whose auth token is the vectors' ``12345``."""
    return make_sink("http://127.0.0.1:9", auth_token=VECTORS["auth_token"])


async def test_known_answer_vector_verifies() -> None:
    case = VECTORS["cases"][0]
    request = form_request(case["params"], {"X-Twilio-Signature": case["expected"]},
                           url=case["uri"])
    await vector_sink().verify_status(request)
    assert twilio_signature(VECTORS["auth_token"], case["uri"], case["params"]) == case["expected"]


@pytest.mark.parametrize("index", [2, 3, 4, 5])
async def test_known_answer_port_variants_verify(index) -> None:
    case, params = VECTORS["cases"][index], VECTORS["cases"][0]["params"]
    request = form_request(params, {"X-Twilio-Signature": case["validate_with"]},
                           url=case["uri"])
    await vector_sink().verify_status(request)


async def test_known_answer_json_body_verifies() -> None:
    case = VECTORS["cases"][6]
    assert hashlib.sha256(case["body"].encode()).hexdigest() == case["body_sha256"]
    request = inbound(case["body"].encode(), {"X-Twilio-Signature": case["validate_with"],
                                              "Content-Type": "application/json"},
                      url=case["uri"])
    await vector_sink().verify_status(request)
    tampered = inbound(case["body"].replace("value", "other").encode(),
                       {"X-Twilio-Signature": case["validate_with"]}, url=case["uri"])
    with pytest.raises(SignatureError):
        await vector_sink().verify_status(tampered)


@pytest.mark.parametrize("change", ["token", "param", "url", "missing", "garbage"])
async def test_vector_variations_are_refused(change) -> None:
    case = VECTORS["cases"][0]
    params, url = dict(case["params"]), case["uri"]
    signature = {"missing": None, "garbage": "%%%not base64"}.get(change, case["expected"])
    if change == "param":
        params["Digits"] = "9999"
    if change == "url":
        url = url.replace("foo=1", "foo=2")
    sink = make_sink("http://127.0.0.1:9", auth_token="other" if change == "token" else "12345")
    headers = {"X-Twilio-Signature": signature} if signature else {}
    with pytest.raises(SignatureError):
        await sink.verify_status(form_request(params, headers, url=url))


@pytest.mark.parametrize("url", ["https://host:notaport/x", "https://host:99999/x", "", "//"])
async def test_urls_that_break_the_validator_are_signature_errors(url) -> None:
    request = form_request({"MessageSid": "SM1"}, {"X-Twilio-Signature": "abc="}, url=url)
    with pytest.raises(SignatureError):
        await vector_sink().verify_status(request)


# -- status callbacks and replies --------------------------------------------------------------


def callback(status: str, **extra: str) -> dict[str, str]:
    """Status callback fields."""
    return {"MessageSid": "SM" + "1" * 32, "SmsSid": "SM" + "1" * 32, "MessageStatus": status,
            "SmsStatus": status, "AccountSid": ACCOUNT, "From": SENDER, "To": RECIPIENT,
            "ApiVersion": "2010-04-01", **extra}


@pytest.mark.parametrize(("status", "expected"), [
    ("queued", DeliveryStatus.ACCEPTED), ("sending", DeliveryStatus.ACCEPTED),
    ("sent", DeliveryStatus.ACCEPTED), ("delivered", DeliveryStatus.DELIVERED),
    ("undelivered", DeliveryStatus.FAILED), ("failed", DeliveryStatus.FAILED),
    ("read", DeliveryStatus.OPENED)])
def test_status_mapping(status, expected) -> None:
    now = datetime.now(UTC)
    [update] = parse_webhook(callback(status), {"mid": "ntf_1"}, {}, now)
    assert update.status is expected
    assert update.message_id == "ntf_1" and update.provider_message_id == "SM" + "1" * 32
    assert update.event_id == f"SM{'1' * 32}:{status}"
    assert update.occurred_at == now


def test_failure_reason_is_the_error_code_and_ids_prefer_the_idempotency_token() -> None:
    fields = callback("undelivered", ErrorCode="30003",
                      ErrorMessage=f"Unreachable destination handset {RECIPIENT}")
    [update] = parse_webhook(fields, {}, {IDEMPOTENCY_HEADER: "tok-1"}, datetime.now(UTC))
    assert update.reason.startswith("undelivered error 30003")
    assert RECIPIENT not in update.reason
    assert update.event_id == "twilio:tok-1" and update.message_id is None


U, R = DeliveryStatus.UNSUBSCRIBED, DeliveryStatus.RESUBSCRIBED


@pytest.mark.parametrize(("body", "opt_out_type", "expected"), [
    ("STOP", None, U), (" stop ", None, U), ("Unsubscribe", None, U),
    ("QUIT", None, U), ("stop it please", None, DeliveryStatus.REPLIED),
    ("stop it please", "STOP", U),
    ("START", None, R), ("yes", None, R), ("unstop", None, R), ("HELP", None, None),
    ("Where is my refund?", None, DeliveryStatus.REPLIED)])
def test_inbound_replies(body, opt_out_type, expected) -> None:
    fields = {"MessageSid": "SM" + "2" * 32, "From": RECIPIENT, "To": SENDER, "Body": body,
              "SmsStatus": "received", "NumMedia": "0"}
    if opt_out_type:
        fields["OptOutType"] = opt_out_type
    updates = parse_webhook(fields, {}, {}, datetime.now(UTC))
    if expected is None:
        assert updates == []
        return
    [update] = updates
    assert update.status is expected
    assert update.recipient == RECIPIENT and update.message_id is None
    assert RECIPIENT not in update.reason


def test_webhooks_without_a_sid_are_request_rejected() -> None:
    with pytest.raises(RequestRejected):
        parse_webhook({"MessageStatus": "sent"}, {}, {}, datetime.now(UTC))


async def test_fake_callbacks_and_replies_reach_the_sink_end_to_end(fake, http,
                                                                    receiver) -> None:
    sink = make_sink(fake.url, http, public_url=receiver.url)
    receiver.sink = sink
    await sink.start()
    result = await sink.send(message())
    record = fake.records[-1]
    for status in ("sent", "delivered"):
        assert await fake.send_status(None, record, status) == 200  # to its StatusCallback
    assert await fake.send_status(None, record, "failed", error_code=30005) == 200
    assert [u.status for u in receiver.updates] == [
        DeliveryStatus.ACCEPTED, DeliveryStatus.DELIVERED, DeliveryStatus.FAILED]
    assert {u.message_id for u in receiver.updates} == {"ntf_01HZY3"}
    assert {u.provider_message_id for u in receiver.updates} == {result.provider_message_id}
    assert receiver.updates[-1].reason == "failed error 30005"
    # A STOP reply reaches the same URL (the number's inbound webhook) and blocks the number.
    assert await fake.send_inbound(receiver.webhook_url("sms"), RECIPIENT, "STOP") == 200
    assert receiver.updates[-1].recipient == RECIPIENT
    with pytest.raises(RecipientRefused, match="21610"):
        await sink.send(message())
    params = fake.status_params(record, "delivered")
    assert await fake.send_form(record["request"]["StatusCallback"], params,
                                signed=False) == 401
