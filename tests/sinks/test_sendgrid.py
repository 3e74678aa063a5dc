"""SendGrid sink: v3 mail/send against FakeSendGrid, error mapping, the signed Event Webhook."""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import orjson
import pytest
import sendgrid
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import ValidationError

from hub.contract.testing import HttpSinkContract
from hub.errors import (
    MessageRejected,
    OutcomeUnknown,
    ProviderMisconfigured,
    ProviderUnavailable,
    RateLimited,
    RecipientRefused,
    SignatureError,
)
from hub.messages import DeliveryStatus, OutboundMessage
from hub.testing.fake_sendgrid import FakeSendGrid
from returnhub_sendgrid import SendGridSink
from returnhub_sendgrid.config import SendGridSettings
from returnhub_sendgrid.events import parse_events
from returnhub_sendgrid.payload import MESSAGE_ID_ARG, build_mail
from returnhub_sendgrid.sink import USER_AGENT
from returnhub_sendgrid.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER

from .support import PUBLIC_URL, approved_email, inbound, load_fixture, make_context

API_KEY = "SG.test-secret-key-0123456789.abcdefghij"
RECIPIENT = "jane.customer@example.com"
VECTOR = load_fixture("sendgrid_event_webhook_ecdsa.json")
WEBHOOK_URL = f"{PUBLIC_URL}/webhooks/mail"


def message(to: str = RECIPIENT, **overrides) -> OutboundMessage:
    """A return-approved email."""
    return approved_email(to, **overrides)


def make_sink(base_url: str, http=None, **settings) -> SendGridSink:
    """A SendGrid sink named ``mail``."""
    config = SendGridSettings(api_key=API_KEY, base_url=base_url, **settings)
    return SendGridSink(config, make_context("mail", http=http))


@pytest.fixture
async def fake() -> AsyncIterator[FakeSendGrid]:
    """A fake SendGrid that only takes our key."""
    async with FakeSendGrid(api_key=API_KEY) as server:
        yield server


@pytest.fixture
async def sink(fake: FakeSendGrid, http) -> AsyncIterator[SendGridSink]:
    """A started sink on the shared session, trusting the fake's webhook key."""
    instance = make_sink(fake.url, http, webhook_public_key=fake.public_key_b64,
                         read_timeout_seconds=0.5)
    await instance.start()
    yield instance
    await instance.close()


class TestSendGridContract(HttpSinkContract):
    """The shared sink contract."""

    sink_class = SendGridSink
    secrets = [API_KEY]
    status_headers = [SIGNATURE_HEADER, TIMESTAMP_HEADER]

    build = staticmethod(make_sink)
    # This sink reads every 5xx as "not taken" (SendGrid's error table lists 500/503 as server
    # errors, not as accepted): a message SendGrid took before answering 5xx may be sent twice.
    accepted_server_error = ProviderUnavailable

    def message(self, to: str | None = None) -> OutboundMessage:
        return message(to or RECIPIENT, message_id=f"ntf_{uuid.uuid4().hex}")

    def break_provider(self, provider: FakeSendGrid) -> None:
        provider.fail_next(1, 503)

    def status_request(self, headers: dict[str, str]):
        return inbound(b'[{"event":"delivered","returnhub_message_id":"m"}]\r\n', headers,
                       url=WEBHOOK_URL)

    def signed_status_request(self, provider: FakeSendGrid, message: OutboundMessage, result):
        record = next(r for r in provider.records
                      if r["x_message_id"] == result.provider_message_id)
        body = orjson.dumps(provider.events_for(record, "delivered")) + b"\r\n"
        return inbound(body, {"Content-Type": "application/json", **provider.sign(body)},
                       url=WEBHOOK_URL)


# -- sending ---------------------------------------------------------------------------------


async def test_happy_path_sends_the_sdk_body_with_the_sdk_headers(sink, fake) -> None:
    result = await sink.send(message())
    record = fake.records[-1]
    assert result.provider_message_id == record["x_message_id"]
    assert len(result.provider_message_id) == 22
    body = record["request"]
    assert body["custom_args"][MESSAGE_ID_ARG] == "ntf_01HZY3"
    assert body["custom_args"]["returnhub_return"] == "RMA-1001"
    assert body["custom_args"]["returnhub_stage"] == "approved"
    assert sorted(body["categories"]) == ["approved", "return_approved"]
    assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
    assert body["from"] == {"email": "shop@example.com", "name": "Example Shop"}
    assert body["reply_to"] == {"email": "help@example.com"}
    assert body["personalizations"] == [{"to": [{"email": RECIPIENT}]}]
    assert record["user_agent"] == USER_AGENT == f"sendgrid/{sendgrid.__version__};python"


async def test_the_sdk_client_sends_the_same_body(fake) -> None:
    """The body we post is the one the official client would post (it accepts it too)."""
    settings = SendGridSettings(api_key=API_KEY, base_url=fake.url)
    body = build_mail(message(), settings, "mail")
    client = sendgrid.SendGridAPIClient(API_KEY, host=fake.url)
    response = await asyncio.to_thread(client.send, body)
    assert response.status_code == 202
    assert fake.records[-1]["request"] == body
    assert fake.records[-1]["user_agent"] == USER_AGENT


async def test_sink_opens_its_own_session_without_the_hub_one(fake) -> None:
    sink = make_sink(fake.url)
    await sink.start()
    try:
        assert (await sink.send(message())).provider_message_id
    finally:
        await sink.close()


async def test_sandbox_mode_is_validated_but_not_delivered(fake, http) -> None:
    sink = make_sink(fake.url, http, sandbox_mode=True)
    await sink.start()
    result = await sink.send(message())
    assert result.detail == "sandbox" and not fake.records


@pytest.mark.parametrize("overrides", [{"subject": None}, {"text": "", "html": None},
                                       {"from_address": None}])
async def test_invalid_messages_are_refused_before_sending(sink, fake, overrides) -> None:
    with pytest.raises(MessageRejected):
        await sink.send(message(**overrides))
    assert fake.request_count == 0


@pytest.mark.parametrize("case", load_fixture("header_injection.json")["cases"][:3])
async def test_line_breaks_in_headers_are_refused(sink, fake, case) -> None:
    field = {"Subject": "subject", "To (display name)": "from_name"}[case["field"]]
    with pytest.raises(MessageRejected) as caught:
        await sink.send(message(**{field: case["value"]}))
    assert "evil" not in str(caught.value)
    assert fake.request_count == 0


async def test_validation_error_names_the_field(sink) -> None:
    too_big = {"stage": "approved", "note": "x" * 10_000}  # custom_args must stay < 10 kB
    with pytest.raises(MessageRejected) as caught:
        await sink.send(message(metadata=too_big))
    assert "(custom_args)" in str(caught.value)
    assert caught.value.status == 400
    assert RECIPIENT not in str(caught.value)


@pytest.mark.parametrize("bad", ["not-an-address", "Jane <jane@example.com>", "a@b c"])
async def test_malformed_recipient_is_refused_before_sending(sink, fake, bad) -> None:
    with pytest.raises(RecipientRefused) as caught:
        await sink.send(message(to=bad))
    assert bad not in str(caught.value)
    assert fake.request_count == 0


async def test_wrong_key_is_misconfiguration_without_the_key(fake, http) -> None:
    wrong = "SG.wrong-key-that-must-not-leak"
    sink = SendGridSink(SendGridSettings(api_key=wrong, base_url=fake.url),
                        make_context("mail", http=http))
    await sink.start()
    with pytest.raises(ProviderMisconfigured) as caught:
        await sink.send(message())
    assert caught.value.status == 401
    assert wrong not in str(caught.value) and "mail" in str(caught.value)


async def test_unverified_sender_is_misconfiguration(http) -> None:
    async with FakeSendGrid(api_key=API_KEY, verified_senders={"other@example.com"}) as fake:
        sink = make_sink(fake.url, http)
        await sink.start()
        with pytest.raises(ProviderMisconfigured) as caught:
            await sink.send(message())
    assert caught.value.status == 403


async def test_rate_limit_carries_retry_after_from_the_reset_header(sink, fake) -> None:
    fake.rate_limit_next(1, retry_after=2)
    with pytest.raises(RateLimited) as caught:
        await sink.send(message())
    assert caught.value.status == 429
    assert caught.value.retry_after is not None and 1 <= caught.value.retry_after <= 3
    assert (await sink.send(message())).provider_message_id  # the next one goes through


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_provider_unavailable(sink, fake, status) -> None:
    fake.fail_next(1, status)
    with pytest.raises(ProviderUnavailable) as caught:
        await sink.send(message())
    assert caught.value.status == status


async def test_silence_after_sending_is_outcome_unknown(sink, fake) -> None:
    fake.go_silent(1)
    with pytest.raises(OutcomeUnknown) as caught:
        await sink.send(message())
    assert len(fake.records) == 1  # SendGrid did take it: exactly why it is "unknown"
    assert RECIPIENT not in str(caught.value)


def test_config_refuses_a_key_that_is_not_p256() -> None:
    with pytest.raises(ValidationError, match="webhook_public_key"):
        SendGridSettings(api_key=API_KEY, webhook_public_key="bm90IGEga2V5")
    with pytest.raises(ValidationError, match="base_url"):
        SendGridSettings(api_key=API_KEY, base_url="api.sendgrid.com")


def test_config_never_shows_the_key() -> None:
    settings = SendGridSettings(api_key=API_KEY)
    assert API_KEY not in repr(settings) and API_KEY not in str(settings.model_dump())


# -- the signed Event Webhook ------------------------------------------------------------------


def vector_request(**changes) -> tuple[SendGridSink, object]:
    """The upstream known-answer vector as a sink and a request, with ``changes`` applied."""
    values = {"public_key": VECTOR["public_key_b64"], "signature": VECTOR["signature"],
              "timestamp": VECTOR["timestamp"], "payload": VECTOR["payload_exact"],
              "age": 10, **changes}
    sink = make_sink("http://127.0.0.1:9", webhook_public_key=values["public_key"])
    received = datetime.fromtimestamp(int(VECTOR["timestamp"]) + values["age"], UTC)
    request = inbound(values["payload"].encode(), {
        SIGNATURE_HEADER: values["signature"], TIMESTAMP_HEADER: values["timestamp"],
        "Content-Type": "application/json"}, url=WEBHOOK_URL, received_at=received)
    return sink, request


async def test_known_answer_vector_verifies() -> None:
    sink, request = vector_request()
    await sink.verify_status(request)
    updates = await sink.parse_status(request)
    assert [u.status for u in updates] == [DeliveryStatus.FAILED]
    assert updates[0].provider_message_id == "LRzXl_NHStOGhQ4kofSm_A"
    assert updates[0].event_id == "ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA"
    assert updates[0].reason == "Bounced Address"
    assert updates[0].occurred_at == datetime.fromtimestamp(1600112492, UTC)


@pytest.mark.parametrize("case", VECTOR["negative_cases_upstream"], ids=lambda c: c["change"][:20])
async def test_known_answer_negative_cases_are_refused(case) -> None:
    field, _, value = case["change"].partition(" ")
    if field == "other":  # "other public key <key>"
        changes = {"public_key": value.split()[-1]}
    else:
        name, _, raw = case["change"].partition("=")
        changes = {name: raw.strip("'")}
    sink, request = vector_request(**changes)
    with pytest.raises(SignatureError):
        await sink.verify_status(request)


async def test_trailing_crlf_is_part_of_the_signed_body() -> None:
    sink, request = vector_request(payload=VECTOR["payload_exact"].rstrip("\r\n"))
    with pytest.raises(SignatureError):
        await sink.verify_status(request)


@pytest.mark.parametrize("age", [301, -301, 10**6])
async def test_stale_or_future_timestamps_are_refused(age) -> None:
    sink, request = vector_request(age=age)
    with pytest.raises(SignatureError, match="window"):
        await sink.verify_status(request)


@pytest.mark.parametrize("signature", ["abc", "MEUC!!", "", "   ", "é", "A" * 4000,
                                       base64.b64encode(b"not der").decode()])
async def test_malformed_signatures_are_signature_errors(signature) -> None:
    """The SDK helper raises binascii.Error on 'abc'; we must answer 401."""
    sink, request = vector_request(signature=signature)
    with pytest.raises(SignatureError):
        await sink.verify_status(request)


@pytest.mark.parametrize("timestamp", ["", "１６００１１２５０２", "1600112502.0", "-5", "1e9",
                                       "99999999999999999999"])
async def test_malformed_timestamps_are_signature_errors(timestamp) -> None:
    sink, request = vector_request(timestamp=timestamp)
    with pytest.raises(SignatureError):
        await sink.verify_status(request)


async def test_no_configured_key_refuses_every_webhook() -> None:
    sink = make_sink("http://127.0.0.1:9")
    _, request = vector_request()
    with pytest.raises(SignatureError, match="webhook_public_key"):
        await sink.verify_status(request)


async def test_own_key_pair_signs_and_verifies() -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    public_b64 = base64.b64encode(private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()
    body = orjson.dumps([{"event": "delivered", "sg_event_id": "e1",
                          "sg_message_id": "abc.filter0", MESSAGE_ID_ARG: "ntf_1",
                          "timestamp": int(time.time())}]) + b"\r\n"
    stamp = str(int(time.time()))
    signature = base64.b64encode(private.sign(stamp.encode() + body,
                                              ec.ECDSA(hashes.SHA256()))).decode()
    sink = make_sink("http://127.0.0.1:9", webhook_public_key=public_b64)
    request = inbound(body, {SIGNATURE_HEADER: signature, TIMESTAMP_HEADER: stamp},
                      url=WEBHOOK_URL)
    await sink.verify_status(request)
    tampered = inbound(body.replace(b"delivered", b"bounce"),
                       {SIGNATURE_HEADER: signature, TIMESTAMP_HEADER: stamp}, url=WEBHOOK_URL)
    with pytest.raises(SignatureError):
        await sink.verify_status(tampered)


async def test_fake_status_webhooks_reach_the_sink_end_to_end(fake, http, receiver) -> None:
    sink = make_sink(fake.url, http, webhook_public_key=fake.public_key_b64)
    receiver.sink = sink
    await sink.start()
    result = await sink.send(message())
    record = fake.records[-1]
    url = receiver.webhook_url("mail")
    for event in ("processed", "delivered", "open", "click"):
        assert await fake.send_status(url, record, event) == 200
    assert [u.status for u in receiver.updates] == [
        DeliveryStatus.ACCEPTED, DeliveryStatus.DELIVERED, DeliveryStatus.OPENED,
        DeliveryStatus.CLICKED]
    assert {u.message_id for u in receiver.updates} == {"ntf_01HZY3"}
    assert {u.provider_message_id for u in receiver.updates} == {result.provider_message_id}
    assert len({u.event_id for u in receiver.updates}) == 4
    # The fake can also send what an attacker would: unsigned, or signed long ago.
    events = fake.events_for(record, "delivered")
    assert await fake.send_events(url, events, signed=False) == 401
    assert await fake.send_events(url, events, timestamp=int(time.time()) - 3600) == 401


# -- parsing -----------------------------------------------------------------------------------


def event(name: str, **fields) -> dict:
    """A SendGrid event about our message."""
    return {"email": RECIPIENT, "timestamp": 1700000000, "event": name,
            "sg_event_id": f"id-{name}", "sg_message_id": "XMSGID.filterdrecv-1.0",
            MESSAGE_ID_ARG: "ntf_1", **fields}


@pytest.mark.parametrize(("name", "status"), [
    ("processed", DeliveryStatus.ACCEPTED), ("delivered", DeliveryStatus.DELIVERED),
    ("deferred", DeliveryStatus.DEFERRED), ("bounce", DeliveryStatus.BOUNCED),
    ("dropped", DeliveryStatus.FAILED), ("spamreport", DeliveryStatus.COMPLAINED),
    ("unsubscribe", DeliveryStatus.UNSUBSCRIBED),
    ("group_unsubscribe", DeliveryStatus.UNSUBSCRIBED), ("open", DeliveryStatus.OPENED),
    ("click", DeliveryStatus.CLICKED)])
def test_event_mapping(name, status) -> None:
    now = datetime.now(UTC)
    [update] = parse_events([event(name)], now)
    assert update.status is status
    assert update.message_id == "ntf_1" and update.provider_message_id == "XMSGID"
    assert update.event_id == f"id-{name}"
    assert update.raw == event(name)
    assert update.occurred_at == datetime.fromtimestamp(1700000000, UTC)


def test_reasons_never_carry_the_address() -> None:
    bounce = event("bounce", type="blocked", status="5.7.1",
                   reason=f"550 5.7.1 <{RECIPIENT}> blocked by policy")
    [update] = parse_events([bounce], datetime.now(UTC))
    assert update.reason.startswith("blocked 5.7.1: 550 5.7.1")
    assert RECIPIENT not in update.reason


def test_unknown_and_anonymous_events_are_skipped() -> None:
    anonymous = {"event": "bounce", "email": RECIPIENT, "timestamp": 1}  # async bounce, no ids
    batch = [event("group_resubscribe"), event("brand_new_event"), anonymous]
    assert parse_events(batch, datetime.now(UTC)) == []


def test_event_ids_are_stable_when_sendgrid_sends_none() -> None:
    without_id = {k: v for k, v in event("delivered").items() if k != "sg_event_id"}
    first = parse_events([without_id], datetime.now(UTC))
    again = parse_events([dict(reversed(list(without_id.items())))],
                         datetime.now(UTC) + timedelta(hours=1))
    assert first[0].event_id == again[0].event_id
    assert first[0].event_id.startswith("sha256:")


def test_provider_id_falls_back_to_smtp_id() -> None:
    item = {k: v for k, v in event("delivered").items() if k != "sg_message_id"}
    item["smtp-id"] = "<XMSGID@ismtpd0001p1.sendgrid.net>"
    [update] = parse_events([item], datetime.now(UTC))
    assert update.provider_message_id == "XMSGID"


@pytest.mark.parametrize("body", [b"{}", b"[1, 2]", b"not json", b""])
async def test_malformed_batches_are_request_rejected(body) -> None:
    from hub.errors import RequestRejected

    sink = make_sink("http://127.0.0.1:9")
    with pytest.raises(RequestRejected):
        await sink.parse_status(inbound(body, url=WEBHOOK_URL))
