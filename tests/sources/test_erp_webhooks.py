"""ERP source: configurable signature and the record mapping (the Odoo worked example)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pydantic
import pytest
from structlog.testing import capture_logs

from hub.contract.testing import SourceContract
from hub.errors import RequestRejected, SignatureError
from hub.events import Customer, EventType, Money, ReturnItem
from hub.testing.signing import erp_webhook, inbound_request
from returnhub_erp.config import ErpSettings
from returnhub_erp.source import ErpSource

from .conftest import load_fixture
from .erp_helpers import WEBHOOK_SECRET, odoo_section, odoo_settings

HEADER = "X-Odoo-Signature"


def records() -> dict[int, dict]:
    return {r["id"]: r for r in load_fixture("erp/odoo_rma_page.json")["records"]}


def odoo_webhook(body, secret=WEBHOOK_SECRET):
    return erp_webhook(body, secret=secret, header=HEADER, prefix="sha256=")


@pytest.fixture
def source(make_context) -> ErpSource:
    return ErpSource(odoo_settings(), make_context("odoo"))


async def parse(source, body):
    request = odoo_webhook(body)
    await source.verify(request)
    return await source.parse(request)


class TestErpContract(SourceContract):
    instance_name = "odoo"
    fuzz_headers = (HEADER,)

    def make_source(self, context):
        return ErpSource(odoo_settings(), context)

    def valid_payload(self):
        return records()[44]

    def signed(self, body):
        return odoo_webhook(body)


class TestOdooMapping:
    async def test_received(self, source):
        [event] = await parse(source, records()[41])
        assert event.type is EventType.RECEIVED
        assert event.return_id == "RMA/2025/0041"
        assert event.source_event_id == "41@2025-03-12 08:15:31"
        assert event.occurred_at == datetime(2025, 3, 12, 8, 15, 31, tzinfo=UTC)
        assert event.order_id == "87"
        assert event.order_number == "S00087"
        assert event.customer == Customer(id="12", name="Jane Doe", email="jane.doe@example.com",
                                          phone="+14155550100")
        assert event.items == [ReturnItem(sku="TEE-BLU-M", name="[TEE-BLU-M] Blue tee (M)",
                                          quantity=1)]
        assert event.refund_amount is None
        assert event.extra == {"erp_status": "received", "record_version": "2025-03-12 08:15:31"}
        assert event.raw == records()[41]

    async def test_inspected_and_restocked_is_restocked(self, source):
        [event] = await parse(source, records()[42])
        assert event.type is EventType.RESTOCKED
        assert event.extra["grade"] == "A"
        assert event.extra["disposition"] == "restock"
        assert event.customer.phone is None  # Odoo's `false`

    async def test_inspected_and_disposed_is_inspected(self, source):
        [event] = await parse(source, records()[43])
        assert event.type is EventType.INSPECTED
        assert (event.extra["grade"], event.extra["disposition"]) == ("C", "dispose")
        assert event.items[0].quantity == 2

    async def test_refunded(self, source):
        [event] = await parse(source, records()[44])
        assert event.type is EventType.REFUNDED
        assert event.refund_amount == Money(amount=Decimal("29.0"), currency="EUR")
        assert event.refund_method == "original_payment"

    async def test_confirmed_is_approved(self, source):
        [event] = await parse(source, records()[46])
        assert event.type is EventType.APPROVED

    async def test_unmapped_status_is_acknowledged_and_logged(self, source):
        with capture_logs() as logs:
            assert await parse(source, records()[45]) == []
        assert logs[0]["event"] == "erp_status_unmapped"
        assert logs[0]["status"] == "waiting_return"

    async def test_a_batch_gives_one_event_per_mapped_record(self, source):
        events = await parse(source, list(records().values()))
        assert [e.return_id for e in events] == ["RMA/2025/0041", "RMA/2025/0042",
                                                 "RMA/2025/0043", "RMA/2025/0044",
                                                 "RMA/2025/0046"]
        assert len({e.source_event_id for e in events}) == 5

    async def test_a_new_version_of_a_record_has_a_new_dedupe_key(self, source):
        first = records()[41]
        second = {**first, "state": "refunded", "write_date": "2025-03-13 10:00:00"}
        [a], [b] = await parse(source, first), await parse(source, second)
        assert a.source_event_id != b.source_event_id

    async def test_record_inside_an_envelope(self, make_context):
        source = ErpSource(odoo_settings(webhook_record_path="data.record"), make_context("odoo"))
        [event] = await parse(source, {"event": "rma.write", "data": {"record": records()[44]}})
        assert event.type is EventType.REFUNDED


class TestGenericMapping:
    def settings(self, **overrides):
        base = {
            "webhook_secret": "s3cret",
            "cursor_path": "sequence",
            "mapping": {"return_id": "rma.number", "status": "status",
                        "occurred_at": "changed_at", "refund_amount": "credit.amount_total",
                        "refund_currency": "credit.currency", "refund_method": "credit.kind",
                        "items": "lines", "item_sku": "sku", "item_quantity": "qty",
                        "item_price": "unit_price", "currency": "currency",
                        "tracking_number": "parcel.tracking", "tracking_carrier": "parcel.carrier"},
            "status_map": {"CREDITED": "return.refunded", "RECEIVED": "return.received"},
        }
        return ErpSettings.model_validate({**base, **overrides})

    def record(self, **changes):
        record = {"rma": {"number": "RA-1009"}, "status": "CREDITED", "sequence": 88123,
                  "changed_at": 1741776000, "currency": "GBP",
                  "credit": {"amount_total": "45.50", "currency": "GBP", "kind": "store_credit"},
                  "lines": [{"sku": "A-1", "qty": 2, "unit_price": "12.00"},
                            {"sku": "B-2", "qty": 1, "unit_price": "21.50"}],
                  "parcel": {"tracking": "JD014600006281230000", "carrier": "Royal Mail"}}
        record.update(changes)
        return record

    async def parse(self, make_context, record, **overrides):
        source = ErpSource(self.settings(**overrides), make_context("wms"))
        request = erp_webhook(record, secret="s3cret")
        await source.verify(request)
        return await source.parse(request)

    async def test_nested_paths_lines_and_sequence_cursor(self, make_context):
        [event] = await self.parse(make_context, self.record())
        assert event.type is EventType.REFUNDED
        assert event.return_id == "RA-1009"
        assert event.source_event_id == "RA-1009@88123"
        assert event.occurred_at == datetime(2025, 3, 12, 10, 40, tzinfo=UTC)
        assert event.refund_amount == Money(amount=Decimal("45.50"), currency="GBP")
        assert event.refund_method == "store_credit"
        assert [(i.sku, i.quantity, i.price) for i in event.items] == [
            ("A-1", 2, Money(amount=Decimal("12.00"), currency="GBP")),
            ("B-2", 1, Money(amount=Decimal("21.50"), currency="GBP"))]
        assert (event.tracking.number, event.tracking.carrier) == ("JD014600006281230000",
                                                                   "Royal Mail")

    async def test_sequence_cursor_without_occurred_at_uses_receipt_time(self, make_context):
        settings = self.settings()
        mapping = settings.mapping.model_copy(update={"occurred_at": None})
        source = ErpSource(settings.model_copy(update={"mapping": mapping}), make_context("wms"))
        request = erp_webhook(self.record(), secret="s3cret")
        [event] = await source.parse(request)
        assert event.occurred_at == request.received_at

    @pytest.mark.parametrize(("change", "field"), [
        ({"rma": {}}, "rma.number"),
        ({"status": None}, "status"),
        ({"sequence": None}, "sequence"),
        ({"credit": {"amount_total": "lots", "currency": "GBP"}}, "credit.amount_total"),
        ({"credit": {"amount_total": "1.00", "currency": "pounds"}}, "credit.currency"),
        ({"lines": [{"sku": "A-1", "qty": 1.5}]}, "lines.0.qty"),
        ({"lines": {"sku": "A-1"}}, "lines"),
        ({"lines": ["A-1"]}, "lines.0"),
        ({"changed_at": "last week"}, "changed_at"),
        ({"rma": {"number": {"nested": True}}}, "rma.number"),
    ])
    async def test_invalid_fields_are_rejected_naming_the_configured_path(self, make_context,
                                                                         change, field):
        with pytest.raises(RequestRejected) as caught:
            await self.parse(make_context, self.record(**change))
        assert (caught.value.status, caught.value.field) == (422, field)

    async def test_an_amount_without_any_currency_is_rejected(self, make_context):
        record = self.record(credit={"amount_total": "45.50"}, currency=None, lines=[])
        with pytest.raises(RequestRejected) as caught:
            await self.parse(make_context, record)
        assert caught.value.field == "credit.currency"

    async def test_default_currency_fills_in(self, make_context):
        record = self.record(credit={"amount_total": "45.50"}, currency=None)
        [event] = await self.parse(make_context, record, default_currency="GBP")
        assert event.refund_amount.currency == "GBP"

    async def test_errors_in_a_batch_name_the_record(self, make_context):
        with pytest.raises(RequestRejected) as caught:
            await self.parse(make_context, [self.record(), self.record(status=None)])
        assert caught.value.field == "[1].status"


class TestSignature:
    @pytest.mark.parametrize(("encoding", "prefix"), [("hex", ""), ("base64", ""),
                                                      ("hex", "sha256="), ("base64", "v1=")])
    async def test_encodings_and_prefixes(self, make_context, encoding, prefix):
        source = ErpSource(odoo_settings(signature_header="X-Signature",
                                         signature_encoding=encoding, signature_prefix=prefix),
                           make_context("odoo"))
        request = erp_webhook(records()[41], secret=WEBHOOK_SECRET, encoding=encoding,
                              prefix=prefix)
        await source.verify(request)
        bad = erp_webhook(records()[41], secret="other", encoding=encoding, prefix=prefix)
        with pytest.raises(SignatureError):
            await source.verify(bad)

    async def test_previous_secret_is_accepted_during_rotation(self, make_context):
        source = ErpSource(odoo_settings(webhook_secret="new",
                                         previous_webhook_secret=WEBHOOK_SECRET),
                           make_context("odoo"))
        await source.verify(odoo_webhook(records()[41]))

    async def test_without_a_secret_every_webhook_is_refused(self, make_context):
        source = ErpSource(odoo_settings(webhook_secret=None), make_context("odoo"))
        with pytest.raises(SignatureError, match="disabled"):
            await source.verify(odoo_webhook(records()[41]))

    @pytest.mark.parametrize("value", ["", "sha256=", "sha1=abcd", "sha256=xyz", "ü" * 10,
                                       "sha256=" + "0" * 64])
    async def test_malformed_headers_are_signature_errors(self, source, value):
        with pytest.raises(SignatureError):
            await source.verify(inbound_request(b"{}", {HEADER: value}))


class TestConfig:
    def test_the_odoo_example_is_valid(self):
        settings = odoo_settings()
        assert settings.status_map["received"] is EventType.RECEIVED
        assert settings.mapping.refund_amount == "refund_id.amount_total"

    def test_typos_in_the_mapping_are_errors(self):
        section = odoo_section()
        section["mapping"] = {**section["mapping"], "refund_ammount": "x"}
        with pytest.raises(pydantic.ValidationError, match="refund_ammount"):
            ErpSettings.model_validate(section)

    def test_unknown_event_types_are_errors(self):
        with pytest.raises(pydantic.ValidationError):
            odoo_settings(status_map={"received": "return.arrived"})

    def test_privacy_events_cannot_be_mapped(self):
        with pytest.raises(pydantic.ValidationError, match="privacy"):
            odoo_settings(status_map={"gdpr": "privacy.customer_redact"})

    def test_one_kind_of_auth(self):
        with pytest.raises(pydantic.ValidationError, match="not both"):
            odoo_settings(username="u", password="p")
        with pytest.raises(pydantic.ValidationError, match="together"):
            odoo_settings(bearer_token=None, username="u")
