"""What the store can hold, checked before an event joins an inbox group commit: bounds from
the column types, NUL bytes anywhere, control characters in ids, amounts within their
precision, dates that convert to UTC, and the shared contact rules (hub/contact.py)."""

from __future__ import annotations

import typing
from types import UnionType

import pytest
from pydantic import BaseModel

from hub.contact import email_problem, is_email, phone_problem, to_e164
from hub.errors import RequestRejected
from hub.events import ReturnEvent
from hub.store.models import Customer, InboxEvent, Return
from hub.store.storable import COLUMNS, ENCRYPTED, check_storable, max_length


def event(source: str = "shop", **fields: typing.Any) -> ReturnEvent:
    payload = {"type": "return.approved", "return_id": "R-1", **fields}
    return ReturnEvent.model_validate({**payload, "source": source,
                                       "source_event_id": fields.pop("source_event_id", "m-1"),
                                       "raw": payload})


def refused_field(candidate: ReturnEvent) -> str:
    with pytest.raises(RequestRejected) as refused:
        check_storable(candidate)
    assert refused.value.status == 422
    return refused.value.field


def _leaf_paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every field of ``model``, nested models expanded, as dotted paths."""
    paths = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        inner = [a for a in typing.get_args(info.annotation) if isinstance(a, type)] \
            if isinstance(info.annotation, UnionType) or typing.get_origin(info.annotation) \
            else [info.annotation]
        nested = [a for a in inner if isinstance(a, type) and issubclass(a, BaseModel)]
        if nested and path not in ENCRYPTED:
            paths.extend(_leaf_paths(nested[0], f"{path}."))
        else:
            paths.append(path)
    return paths


def test_every_field_of_the_event_is_either_bounded_by_its_columns_or_kept_encrypted():
    # A field added to ReturnEvent must be placed: in a column (checked) or encrypted JSON.
    unplaced = [path for path in _leaf_paths(ReturnEvent)
                if path not in COLUMNS and path not in ENCRYPTED
                and not any(path.startswith(f"{p}.") for p in ENCRYPTED)]
    assert unplaced == []


def test_bounds_come_from_the_column_types():
    assert max_length("return_id") == InboxEvent.__table__.c.return_ref.type.length == 255
    assert max_length("order_number") == Return.__table__.c.order_number.type.length == 100
    assert max_length("tracking.number") == 100
    assert max_length("source_event_id") == 255
    # customers.identity holds "<source>:<id>".
    assert max_length("customer.id", "shop") == Customer.__table__.c.identity.type.length - 5
    assert max_length("reason") is None and max_length("refund_method") is None  # Text


@pytest.mark.parametrize(("fields", "field"), [
    ({"return_id": "R-\x00"}, "return_id"),
    ({"customer": {"name": "Ann\x00"}}, "customer.name"),
    ({"extra": {"note": {"deep": ["ok", "bad\x00"]}}}, "extra.note.deep.1"),
    ({"items": [{"sku": "A", "reason": "torn\x00"}]}, "items.0.reason"),
    ({"reason": "x\x00y"}, "reason"),
    ({"order_id": "O-\ud800"}, "order_id"),
    ({"return_id": "R" * 256}, "return_id"),
    ({"source_event_id": "m" * 5000}, "source_event_id"),
    ({"order_number": "#" * 101}, "order_number"),
    ({"order_id": "O" * 256}, "order_id"),
    ({"customer": {"id": "C" * 251}}, "customer.id"),
    ({"customer": {"locale": "x" * 36}}, "customer.locale"),
    ({"customer": {"timezone": "x" * 65}}, "customer.timezone"),
    ({"tracking": {"number": "1Z" * 51}}, "tracking.number"),
    ({"tracking": {"carrier": "c" * 65}}, "tracking.carrier"),
    ({"return_id": "R-1\x07"}, "return_id"),
    ({"order_number": "#1\n2"}, "order_number"),
    ({"tracking": {"url": "https://t.example/1\r\nX: y"}}, "tracking.url"),
    ({"customer": {"name": "Ann\nBcc: x"}}, "customer.name"),
    ({"customer": {"email": "a@example.com\nBcc: b@example.com"}}, "customer.email"),
    ({"customer": {"email": "not-an-address"}}, "customer.email"),
    ({"customer": {"phone": "+1 415 555 0100 call me"}}, "customer.phone"),
    ({"customer": {"phone": "+1"}}, "customer.phone"),
    ({"customer": {"phone": "12"}}, "customer.phone"),
    ({"refund_amount": {"amount": "12345678901", "currency": "USD"}}, "refund_amount.amount"),
    ({"order_total": {"amount": "9999999999.99995", "currency": "USD"}}, "order_total.amount"),
    ({"occurred_at": "0001-01-01T00:00:00+05:00"}, "occurred_at"),
])
def test_what_the_store_cannot_hold_is_refused_naming_the_field(fields, field):
    assert refused_field(event(**fields)) == field


def test_a_nul_byte_in_a_key_of_the_platform_payload_names_no_key_text():
    candidate = event()
    candidate.raw = {"lines": [{"a\x00b": 1}]}
    assert refused_field(candidate) == "lines.0.<key>"


def test_values_at_the_bounds_and_free_text_of_any_length_are_accepted():
    check_storable(event(
        return_id="R" * 255, order_number="#" * 100, order_id="O" * 255,
        source_event_id="m" * 255, reason="Too small.\n\tAnd " + "long " * 2000,
        refund_method="Store credit, " * 40, customer={"id": "C" * 250, "name": "Zoë Ñandú 🙂",
                                                      "email": "zoe@example.com",
                                                      "phone": "(415) 555-0100"},
        tracking={"number": "1" * 100, "carrier": "c" * 64, "url": "https://t.example/" +
                  "p" * 3000},
        refund_amount={"amount": "9999999999.9999", "currency": "USD"},
        extra={"note": "line one\nline two"}))


def test_a_privacy_request_is_not_refused_over_a_contact_format():
    check_storable(event(type="privacy.customer_redact", return_id=None,
                         customer={"email": "old address", "phone": "555-625-1199"}))


def test_the_message_repeats_no_value():
    with pytest.raises(RequestRejected) as refused:
        check_storable(event(customer={"email": "secret.person@example\n.com"}))
    assert "secret" not in refused.value.message


def test_one_email_rule_for_ingress_and_the_sinks():
    assert is_email("a@example.com")
    for bad in ("a@example.com\r\n", "a@b", "a b@example.com", "a@example.com,b@example.com",
                "Ann <a@example.com>", "a" * 250 + "@example.com"):
        assert email_problem(bad), bad


def test_one_phone_rule_for_ingress_and_the_sms_sink():
    assert to_e164("+1 (415) 555-0100", "US") == "+14155550100"
    assert phone_problem("+1 (415) 555-0100") is None
    assert phone_problem("0151 1234 5678") is None  # national: the sink's region reads it
    for bad in ("+1", "+999 1234", "+14155550100\n", "415-CALL-NOW", "12"):
        assert phone_problem(bad), bad


def test_text_that_spells_an_escaped_nul_is_stored_as_it_is():
    # The JSON screen before the walk sees "\\u0000" in it; the walk finds no NUL byte.
    check_storable(event(reason=r"the label said \u0000 and \ud800", extra={r"k\u0000": "v"}))


def nested(depth: int) -> object:
    value: object = "leaf"
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


@pytest.mark.parametrize(("where", "field"), [("extra", "extra"), ("raw", "lines")])
def test_a_payload_nested_deeper_than_the_store_can_write_is_refused(where, field):
    # The parser takes 1,024 levels; pydantic, which writes the inbox row, about 250. Such
    # an event was answered 503 on every retry, as if the database were down.
    candidate = event()
    if where == "extra":  # as deep as the parser lets through, past Python's recursion limit
        candidate.extra = {"a": nested(1020)}
    else:  # a key of the platform's own payload, named as the sender named it
        candidate.raw = {"id": "x", "lines": nested(600)}
    with pytest.raises(RequestRejected) as refused:
        check_storable(candidate)
    assert refused.value.field == field and "nested more than 200" in refused.value.message


def test_a_payload_nested_as_deep_as_the_store_writes_is_accepted():
    candidate = event(extra={"a": nested(200)})
    candidate.raw = {"lines": nested(200)}
    check_storable(candidate)
