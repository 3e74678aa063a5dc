"""One ERP record → one hub event, through the configured mapping. Pure: no I/O.

Rejections name the configured path of the offending field (prefixed with ``[i].`` for the
i-th record of a batch), never its value.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hub.contract import (
    Customer,
    EventType,
    Money,
    RequestRejected,
    ReturnEvent,
    ReturnItem,
    Tracking,
    as_object,
    build,
    money,
    reject,
    timestamp,
)
from returnhub_erp.paths import lookup

if TYPE_CHECKING:
    from returnhub_erp.config import ErpMapping, ErpSettings


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a record means: an event, or the ERP status that maps to none."""

    event: ReturnEvent | None
    unmapped_status: str | None = None


class _Reader:
    """Typed reads of one record at configured paths; errors name ``prefix + path``."""

    def __init__(self, record: Any, prefix: str) -> None:
        self.record = record
        self.prefix = prefix

    def field(self, path: str) -> str:
        """The name a rejection gives the field at ``path``."""
        return self.prefix + path

    def text(self, path: str | None, *, required: bool = False) -> str | None:
        """Text at ``path``: strings as they are, whole numbers as digits."""
        value = lookup(self.record, path)
        if value is None or value == "":
            if required:
                raise reject(self.field(path or ""), f"{self.field(path or '')} is required")
            return None
        if isinstance(value, str):
            return value.strip()
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        raise reject(self.field(path), f"{self.field(path)} must be a string or an integer")

    def quantity(self, path: str | None) -> int:
        """A whole, non-negative quantity at ``path`` (1 when absent; Odoo sends 1.0)."""
        value = lookup(self.record, path)
        if value is None:
            return 1
        if isinstance(value, int | float) and not isinstance(value, bool) \
                and float(value).is_integer() and value >= 0:
            return int(value)
        raise reject(self.field(path), f"{self.field(path)} must be a whole, non-negative number")

    def money(self, amount_path: str | None, currency: str | None,
              currency_field: str) -> Money | None:
        """The amount at ``amount_path`` in ``currency``; None when there is no amount."""
        amount = lookup(self.record, amount_path)
        if amount is None:
            return None
        if currency is None:
            raise reject(currency_field, f"{currency_field} is required for "
                         f"{self.field(amount_path)} (or set default_currency)")
        return money(amount, currency, self.field(amount_path), currency_field)

    def time(self, path: str) -> datetime | None:
        """The timestamp at ``path``; None when absent."""
        value = lookup(self.record, path)
        return None if value is None else timestamp(value, self.field(path))


@dataclass(frozen=True, slots=True)
class RecordMapper:
    """Applies one source's mapping and status map to its ERP's records."""

    settings: ErpSettings

    @property
    def mapping(self) -> ErpMapping:
        """The configured hub field → path table."""
        return self.settings.mapping

    def to_event(self, record: Any, *, source: str, received_at: datetime,
                 prefix: str = "") -> Outcome:
        """The hub event for ``record``; ``Outcome(None, status)`` for an unmapped status."""
        as_object(record, prefix.rstrip(".") or None)
        read = _Reader(record, prefix)
        m = self.mapping
        status = read.text(m.status, required=True)
        event_type = self.settings.status_map.get(status)
        if event_type is None:
            return Outcome(None, status)
        return_id = read.text(m.return_id, required=True)
        version = read.text(self.settings.cursor_path, required=True)
        disposition = read.text(m.disposition)
        restock = {d.lower() for d in self.settings.restock_dispositions}
        if event_type is EventType.INSPECTED and disposition and disposition.lower() in restock:
            event_type = EventType.RESTOCKED
        currency = read.text(m.currency) or self.settings.default_currency
        refund_currency = read.text(m.refund_currency) or currency
        extra = {"erp_status": status, "grade": read.text(m.grade), "disposition": disposition,
                 "record_version": version}
        return Outcome(build(
            ReturnEvent,
            type=event_type,
            return_id=return_id,
            customer_reference=return_id,  # the RMA number the customer was given
            order_id=read.text(m.order_id),
            order_number=read.text(m.order_number),
            customer=self._customer(read),
            items=self._items(read, currency),
            reason=read.text(m.reason),
            order_total=read.money(m.order_total, currency, self._currency_field(m.currency)),
            refund_amount=read.money(m.refund_amount, refund_currency,
                                     self._currency_field(m.refund_currency or m.currency)),
            refund_method=read.text(m.refund_method),
            tracking=self._tracking(read),
            occurred_at=self._occurred_at(read, received_at),
            source=source,
            source_event_id=f"{read.text(m.record_id) or return_id}@{version}",
            raw=record,
            extra={k: v for k, v in extra.items() if v is not None},
        ))

    def _currency_field(self, path: str | None) -> str:
        return path or "default_currency"

    def _occurred_at(self, read: _Reader, received_at: datetime) -> datetime:
        if self.mapping.occurred_at:
            return read.time(self.mapping.occurred_at) or received_at
        version = lookup(read.record, self.settings.cursor_path)
        # A sequence number is not a time: only a textual timestamp stands for occurred_at.
        if isinstance(version, str) and not version.strip().isdigit():
            try:
                return timestamp(version, read.field(self.settings.cursor_path))
            except RequestRejected:
                return received_at
        return received_at

    def _customer(self, read: _Reader) -> Customer | None:
        m = self.mapping
        fields = {"id": read.text(m.customer_id), "email": read.text(m.customer_email),
                  "phone": read.text(m.customer_phone), "name": read.text(m.customer_name)}
        return build(Customer, **fields) if any(fields.values()) else None

    def _tracking(self, read: _Reader) -> Tracking | None:
        m = self.mapping
        number = read.text(m.tracking_number)
        if number is None:
            return None
        return build(Tracking, number=number, carrier=read.text(m.tracking_carrier),
                     url=read.text(m.tracking_url))

    def _items(self, read: _Reader, currency: str | None) -> list[ReturnItem]:
        m = self.mapping
        item_paths = (m.item_sku, m.item_name, m.item_quantity, m.item_price, m.item_reason,
                      m.item_category)
        if m.items is None:
            return [self._item(read, currency)] if any(item_paths) else []
        lines = lookup(read.record, m.items)
        if lines is None:
            return []
        if not isinstance(lines, list):
            raise reject(read.field(m.items), f"{read.field(m.items)} must be an array")
        return [self._item(_Reader(line, f"{read.field(m.items)}.{index}."), currency)
                for index, line in enumerate(lines)]

    def _item(self, read: _Reader, currency: str | None) -> ReturnItem:
        m = self.mapping
        as_object(read.record, read.prefix.rstrip(".") or None)
        return build(ReturnItem, sku=read.text(m.item_sku), name=read.text(m.item_name),
                     quantity=read.quantity(m.item_quantity),
                     price=read.money(m.item_price, currency, self._currency_field(m.currency)),
                     reason=read.text(m.item_reason), category=read.text(m.item_category))
