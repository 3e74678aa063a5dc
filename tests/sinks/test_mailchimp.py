"""Mailchimp Transactional sink: messages/send against FakeMandrill (current and legacy error
statuses), per-recipient refusals, signed webhooks."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import mailchimp_transactional
import orjson
import pytest
from mailchimp_transactional.api_client import ApiClientError

from hub.contract.testing import HttpSinkContract
from hub.errors import (
    MessageRejected,
    OutcomeUnknown,
    ProviderMisconfigured,
    ProviderUnavailable,
    RateLimited,
    RecipientRefused,
    RequestRejected,
    SignatureError,
)
from hub.messages import DeliveryStatus, OutboundMessage
from hub.testing.fake_mandrill import FakeMandrill, mandrill_signature
from returnhub_mailchimp import MandrillSink
from returnhub_mailchimp.config import MandrillSettings
from returnhub_mailchimp.events import parse_events
from returnhub_mailchimp.payload import MESSAGE_ID_KEY, build_message
from returnhub_mailchimp.webhook import SIGNATURE_HEADER

from .support import PUBLIC_URL, approved_email, form_request, load_fixture, make_context

API_KEY = "md-test-secret-key-0123456789"
WEBHOOK_KEY = "whk-test-secret-0123456789"
RECIPIENT = "jane.customer@example.com"
WEBHOOK_URL = f"{PUBLIC_URL}/webhooks/mandrill"
VECTOR = load_fixture("mandrill_signature.json")["vector"]


def message(to: str = RECIPIENT, **overrides) -> OutboundMessage:
    """A return-approved email."""
    return approved_email(to, **overrides)


def make_sink(base_url: str, http=None, public_url: str = PUBLIC_URL, **settings) -> MandrillSink:
    """A Mandrill sink named ``mandrill``."""
    config = MandrillSettings(api_key=API_KEY, base_url=base_url,
                              **{"webhook_key": WEBHOOK_KEY, **settings})
    return MandrillSink(config, make_context("mandrill", http=http, public_url=public_url))


@pytest.fixture
async def fake() -> AsyncIterator[FakeMandrill]:
    """A fake Mandrill taking only our key."""
    async with FakeMandrill(api_keys={API_KEY}, webhook_key=WEBHOOK_KEY) as server:
        yield server


@pytest.fixture
async def sink(fake: FakeMandrill, http) -> AsyncIterator[MandrillSink]:
    """A started sink on the shared session."""
    instance = make_sink(f"{fake.url}/api/1.3", http, read_timeout_seconds=0.5)
    await instance.start()
    yield instance
    await instance.close()


class TestMandrillContract(HttpSinkContract):
    """The shared sink contract."""

    sink_class = MandrillSink
    secrets = [API_KEY, WEBHOOK_KEY]
    status_headers = [SIGNATURE_HEADER]

    build = staticmethod(make_sink)
    base_path = "/api/1.3"
    # This sink reads every 5xx as "not taken" (ProviderUnavailable): a message Mandrill took
    # before answering 5xx may be sent twice.
    accepted_server_error = ProviderUnavailable

    def message(self, to: str | None = None) -> OutboundMessage:
        return message(to or RECIPIENT, message_id=f"ntf_{uuid.uuid4().hex}")

    def break_provider(self, provider: FakeMandrill) -> None:
        provider.fail_next(1, 502)

    def status_request(self, headers: dict[str, str]):
        return form_request({"mandrill_events": '[{"event":"send","_id":"x"}]'}, headers,
                            url=WEBHOOK_URL)

    def signed_status_request(self, provider: FakeMandrill, message: OutboundMessage, result):
        record = next(r for r in provider.records if r["_id"] == result.provider_message_id)
        params = {"mandrill_events": orjson.dumps([provider.event_for(record, "send")]).decode()}
        return form_request(params, {SIGNATURE_HEADER: mandrill_signature(
            WEBHOOK_KEY, WEBHOOK_URL, params)}, url=WEBHOOK_URL)


# -- sending ---------------------------------------------------------------------------------


async def test_happy_path_carries_our_id_in_metadata(sink, fake) -> None:
    result = await sink.send(message())
    record = fake.records[-1]
    assert result.provider_message_id == record["_id"] and result.detail == "sent"
    sent = record["request"]
    assert sent["metadata"] == {"return": "RMA-1001", "stage": "approved",
                                MESSAGE_ID_KEY: "ntf_01HZY3"}
    assert sent["tags"] == ["return_approved", "approved"]
    assert sent["to"] == [{"email": RECIPIENT, "type": "to"}]
    assert sent["headers"] == {"Reply-To": "help@example.com"}
    assert record["path"] == "/api/1.3/messages/send.json"


async def test_the_official_client_sends_the_same_request(fake) -> None:
    """Same path, body and user agent as mailchimp_transactional.Client (pointed at the fake,
    with an explicit timeout instead of its 300 s default)."""
    settings = MandrillSettings(api_key=API_KEY, base_url=f"{fake.url}/api/1.3")
    client = mailchimp_transactional.Client(API_KEY)
    client.api_client.host = settings.base_url
    client.api_client.set_timeout((3, 10))
    body = build_message(message(), settings, "mandrill")
    answer = await asyncio.to_thread(client.messages.send, {"message": body})
    assert answer[0]["status"] == "sent"
    sdk_record = fake.records[-1]
    sink = make_sink(settings.base_url)
    await sink.start()
    try:
        await sink.send(message())
    finally:
        await sink.close()
    ours = fake.records[-1]
    for key in ("request", "path", "user_agent"):
        assert ours[key] == sdk_record[key], key


async def test_sink_opens_its_own_session_without_the_hub_one(fake) -> None:
    sink = make_sink(f"{fake.url}/api/1.0")
    await sink.start()
    try:
        assert (await sink.send(message())).provider_message_id
    finally:
        await sink.close()


@pytest.mark.parametrize(("address", "detail"), [
    ("reject@test.mandrillapp.com", "rejected: test"), ("invalid@localhost", "invalid")])
async def test_refused_recipients_in_a_200_are_recipient_refused(sink, address, detail) -> None:
    with pytest.raises(RecipientRefused) as caught:
        await sink.send(message(to=address))
    assert caught.value.detail == detail
    assert address not in str(caught.value)


async def test_suppressed_address_gives_the_reject_reason(sink, fake) -> None:
    fake.rejects[RECIPIENT] = "unsub"
    with pytest.raises(RecipientRefused, match="unsub"):
        await sink.send(message())


@pytest.mark.parametrize("legacy", [False, True])
async def test_invalid_key_is_misconfiguration(fake, http, legacy) -> None:
    fake.legacy_status = legacy
    wrong = "md-wrong-key-never-shown"
    sink = MandrillSink(MandrillSettings(api_key=wrong, base_url=f"{fake.url}/api/1.3"),
                        make_context("mandrill", http=http))
    await sink.start()
    with pytest.raises(ProviderMisconfigured) as caught:
        await sink.send(message())
    assert caught.value.status == (500 if legacy else 401)
    assert "Invalid_Key" in str(caught.value) and wrong not in str(caught.value)


@pytest.mark.parametrize("legacy", [False, True])
async def test_validation_error_is_message_rejected(sink, fake, legacy) -> None:
    fake.legacy_status = legacy
    fake.fail_next(1, 400)
    with pytest.raises(MessageRejected) as caught:
        await sink.send(message())
    assert caught.value.status == (500 if legacy else 400)


async def test_unknown_subaccount_is_misconfiguration(fake, http) -> None:
    sink = make_sink(f"{fake.url}/api/1.3", http, subaccount="no-such-subaccount")
    await sink.start()
    with pytest.raises(ProviderMisconfigured, match="Unknown_Subaccount"):
        await sink.send(message())


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_gateway_and_server_errors_are_provider_unavailable(sink, fake, status) -> None:
    fake.fail_next(1, status)
    with pytest.raises(ProviderUnavailable) as caught:
        await sink.send(message())
    assert caught.value.status == status
    assert "<html" not in str(caught.value)


async def test_rate_limit_keeps_retry_after(sink, fake) -> None:
    fake.rate_limit_next(1, retry_after=7)
    with pytest.raises(RateLimited) as caught:
        await sink.send(message())
    assert caught.value.retry_after == 7


async def test_silence_after_sending_is_outcome_unknown(sink, fake) -> None:
    fake.go_silent(1)
    with pytest.raises(OutcomeUnknown):
        await sink.send(message())
    assert len(fake.records) == 1


async def test_sdk_error_shapes_match_what_the_sink_maps(fake) -> None:
    """The official client raises ApiClientError(text=<decoded body>) on the same answers."""
    client = mailchimp_transactional.Client("md-wrong")
    client.api_client.host = f"{fake.url}/api/1.3"
    with pytest.raises(ApiClientError) as caught:
        await asyncio.to_thread(client.messages.send, {"message": {"to": [{"email": "a@b.c"}]}})
    assert caught.value.status_code == 401
    assert caught.value.text["name"] == "Invalid_Key"


# -- webhooks ----------------------------------------------------------------------------------


async def test_known_answer_vector_verifies() -> None:
    sink = make_sink("http://127.0.0.1:9/api/1.3", webhook_key=VECTOR["webhook_key"],
                     webhook_url=VECTOR["signed_url"])
    headers = {SIGNATURE_HEADER: VECTOR["expected_X-Mandrill-Signature"]}
    await sink.verify_status(form_request(VECTOR["post_params"], headers, url=WEBHOOK_URL))
    assert mandrill_signature(VECTOR["webhook_key"], VECTOR["signed_url"],
                              VECTOR["post_params"]) == VECTOR["expected_X-Mandrill-Signature"]


@pytest.mark.parametrize("change", ["key", "url", "params", "missing"])
async def test_vector_variations_are_refused(change) -> None:
    key = "wrong API key" if change == "key" else VECTOR["webhook_key"]
    url = VECTOR["signed_url"].rstrip("/") if change == "url" else VECTOR["signed_url"]
    params = dict(VECTOR["post_params"])
    if change == "params":
        params["mandrill_events"] = '[{"event": "open"}]'
    sink = make_sink("http://127.0.0.1:9/api/1.3", webhook_key=key, webhook_url=url)
    headers = {} if change == "missing" else {
        SIGNATURE_HEADER: VECTOR["expected_X-Mandrill-Signature"]}
    with pytest.raises(SignatureError):
        await sink.verify_status(form_request(params, headers, url=WEBHOOK_URL))


async def test_default_webhook_url_is_the_public_url_of_the_sink() -> None:
    sink = make_sink("http://127.0.0.1:9/api/1.3")
    assert sink.webhook_url == WEBHOOK_URL
    params = {"mandrill_events": "[]"}
    signed = {SIGNATURE_HEADER: mandrill_signature(WEBHOOK_KEY, WEBHOOK_URL, params)}
    await sink.verify_status(form_request(params, signed, url=WEBHOOK_URL))


async def test_verification_probe_signed_with_test_webhook_passes_without_a_key() -> None:
    sink = make_sink("http://127.0.0.1:9/api/1.3", webhook_key=None)
    probe = {"mandrill_events": "[]"}
    headers = {SIGNATURE_HEADER: mandrill_signature("test-webhook", WEBHOOK_URL, probe)}
    await sink.verify_status(form_request(probe, headers, url=WEBHOOK_URL))
    assert await sink.parse_status(form_request(probe, headers, url=WEBHOOK_URL)) == []
    events = {"mandrill_events": '[{"event":"send","_id":"x"}]'}
    forged = {SIGNATURE_HEADER: mandrill_signature("test-webhook", WEBHOOK_URL, events)}
    with pytest.raises(SignatureError):
        await sink.verify_status(form_request(events, forged, url=WEBHOOK_URL))


async def test_body_without_parsed_form_is_read_as_a_form() -> None:
    sink = make_sink("http://127.0.0.1:9/api/1.3")
    params = {"mandrill_events": "[]"}
    request = form_request(params, {SIGNATURE_HEADER: mandrill_signature(
        WEBHOOK_KEY, WEBHOOK_URL, params)}, url=WEBHOOK_URL)
    request.form = None
    await sink.verify_status(request)
    request.body = b"\xff\xfe"
    with pytest.raises(SignatureError):
        await sink.verify_status(request)


async def test_fake_webhooks_reach_the_sink_end_to_end(fake, http, receiver) -> None:
    sink = make_sink(f"{fake.url}/api/1.3", http, public_url=receiver.url)
    receiver.sink = sink
    await sink.start()
    result = await sink.send(message())
    record = fake.records[-1]
    url = receiver.webhook_url("mandrill")
    assert await fake.verify_url(url) == 200
    for event in ("send", "delivered", "open", "hard_bounce"):
        assert await fake.send_status(url, record, event) == 200
    assert [u.status for u in receiver.updates] == [
        DeliveryStatus.ACCEPTED, DeliveryStatus.DELIVERED, DeliveryStatus.OPENED,
        DeliveryStatus.BOUNCED]
    assert {u.message_id for u in receiver.updates} == {"ntf_01HZY3"}
    assert {u.provider_message_id for u in receiver.updates} == {result.provider_message_id}
    assert "bad_mailbox" in receiver.updates[-1].reason
    # A redelivered batch gives the same event ids; an unsigned one is refused.
    events = [fake.event_for(record, "click")]
    assert await fake.send_events(url, events) == 200
    assert await fake.send_events(url, events) == 200
    assert receiver.updates[-1].event_id == receiver.updates[-2].event_id
    assert await fake.send_events(url, events, signed=False) == 401
    assert await fake.send_events(url, events, key="some-other-key") == 401


# -- parsing -----------------------------------------------------------------------------------


def event(name: str, **fields) -> dict:
    """A Mandrill message event about our message."""
    return {"event": name, "ts": 1700000000, "_id": "abc123",
            "msg": {"_id": "abc123", "email": RECIPIENT, "state": "sent",
                    "metadata": {MESSAGE_ID_KEY: "ntf_1"}, "smtp_events": []}, **fields}


def batch(*events: dict) -> str:
    """The mandrill_events form value."""
    return orjson.dumps(list(events)).decode()


@pytest.mark.parametrize(("name", "status"), [
    ("send", DeliveryStatus.ACCEPTED), ("deferral", DeliveryStatus.DEFERRED),
    ("hard_bounce", DeliveryStatus.BOUNCED), ("soft_bounce", DeliveryStatus.DEFERRED),
    ("reject", DeliveryStatus.FAILED), ("spam", DeliveryStatus.COMPLAINED),
    ("unsub", DeliveryStatus.UNSUBSCRIBED), ("open", DeliveryStatus.OPENED),
    ("click", DeliveryStatus.CLICKED), ("delivered", DeliveryStatus.DELIVERED)])
def test_event_mapping(name, status) -> None:
    [update] = parse_events(batch(event(name)), datetime.now(UTC))
    assert update.status is status
    assert update.message_id == "ntf_1" and update.provider_message_id == "abc123"
    assert update.occurred_at == datetime.fromtimestamp(1700000000, UTC)
    assert update.event_id.startswith("mandrill:")
    assert update.raw == event(name)


def test_event_ids_are_stable_and_distinct() -> None:
    now = datetime.now(UTC)
    first = parse_events(batch(event("open"), event("click", url="https://a.example/")),
                         now)
    again = parse_events(batch(event("open"), event("click", url="https://a.example/")),
                         now)
    assert [u.event_id for u in first] == [u.event_id for u in again]
    assert first[0].event_id != first[1].event_id
    other_url = parse_events(batch(event("click", url="https://b.example/")), now)
    assert other_url[0].event_id != first[1].event_id


def test_sync_and_inbound_events_are_ignored() -> None:
    sync = {"type": "blacklist", "action": "add", "reject": {"email": RECIPIENT}}
    inbound = {"event": "inbound", "ts": 1, "msg": {"email": RECIPIENT}}
    assert parse_events(batch(sync, inbound), datetime.now(UTC)) == []


def test_bounce_reason_has_no_address() -> None:
    bounced = event("hard_bounce")
    bounced["msg"].update(bounce_description="bad_mailbox",
                          diag=f"smtp;550 5.1.1 <{RECIPIENT}>: user unknown")
    [update] = parse_events(batch(bounced), datetime.now(UTC))
    assert update.reason.startswith("bad_mailbox smtp;550 5.1.1")
    assert RECIPIENT not in update.reason


@pytest.mark.parametrize("value", [None, "not json", "{}", "[1]"])
def test_malformed_batches_are_request_rejected(value) -> None:
    with pytest.raises(RequestRejected):
        parse_events(value, datetime.now(UTC))
