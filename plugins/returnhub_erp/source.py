"""The ERP / WMS source: RMA updates by signed webhook and by polling a REST endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from hub.contract import RequestRejected, Source, reject
from returnhub_erp.client import ErpClient
from returnhub_erp.config import ErpSettings
from returnhub_erp.cursor import is_before, latest
from returnhub_erp.paths import lookup
from returnhub_erp.records import RecordMapper
from returnhub_erp.signature import sign_headers, verify_webhook

if TYPE_CHECKING:
    from hub.contract import ConnectorContext, ConnectorSettings, InboundRequest, ReturnEvent

#: Most records accepted in one webhook body.
MAX_BATCH = 1000


class ErpSource(Source):
    """Return authorizations from an ERP or WMS: receipt, inspection (grade, disposition) and
    refund or credit, mapped by configuration onto hub events.

    Webhooks go to ``https://<public_url>/webhooks/<instance name>``; with ``base_url`` set the
    source is also polled. A record version (``<record id>@<cursor value>``) is the dedupe key,
    so the same change arriving by webhook and by polling is applied once.
    """

    type = "erp"
    Config = ErpSettings

    def __init__(self, config: ConnectorSettings, context: ConnectorContext) -> None:
        super().__init__(config, context)
        self.settings = cast(ErpSettings, config)
        self.mapper = RecordMapper(self.settings)

    async def verify(self, request: InboundRequest) -> None:
        """HMAC-SHA256 of the raw body in the configured header (current or previous secret)."""
        verify_webhook(request, self.settings)

    def sign(self, body: bytes, *, event_id: str) -> dict[str, str]:
        """The configured signature header for ``body`` (needs ``webhook_secret``)."""
        return sign_headers(body, self.settings)

    async def parse(self, request: InboundRequest) -> list[ReturnEvent]:
        """One event per record with a mapped status; the body holds a record or an array."""
        body = request.json()
        found = lookup(body, self.settings.webhook_record_path)
        if found is None:
            field = self.settings.webhook_record_path or None
            raise reject(field, f"{field or 'the body'} must hold a record or an array of them")
        batch = found if isinstance(found, list) else [found]
        if len(batch) > MAX_BATCH:
            raise reject(None, f"at most {MAX_BATCH} records per webhook")
        events = []
        for index, record in enumerate(batch):
            prefix = f"[{index}]." if isinstance(found, list) else ""
            outcome = self.mapper.to_event(record, source=self.name,
                                           received_at=request.received_at, prefix=prefix)
            if outcome.event is None:
                self._log_unmapped(outcome.unmapped_status)
            else:
                events.append(outcome.event)
        return events

    def poll(self, cursor: str | None) -> AsyncIterator[tuple[ReturnEvent, str]] | None:
        """Records changed after ``cursor``, oldest first, each with the cursor to save after
        it; None when no ``base_url`` is configured (webhook-only)."""
        if self.settings.base_url is None:
            return None
        return self._poll(cursor)

    async def _poll(self, cursor: str | None) -> AsyncIterator[tuple[ReturnEvent, str]]:
        client = ErpClient(self.context.http, self.settings, self.name)
        position = cursor
        async for record in client.records(cursor):
            event = self._event_of(record)
            if event is None:
                continue
            version = event.extra["record_version"]
            if cursor is not None and is_before(version, cursor):
                continue  # the ERP ignored the filter: this change was applied before
            if position is not None and is_before(version, position):
                self.log.warning("erp_records_out_of_order", record_version=version)
            # The saved cursor never moves backwards, whatever order the ERP answers in.
            position = latest(version, position)
            yield event, position

    def _event_of(self, record: Any) -> ReturnEvent | None:
        try:
            outcome = self.mapper.to_event(record, source=self.name,
                                           received_at=datetime.now(UTC))
        except RequestRejected as exc:
            # One bad record must not block every later one: skip it and say which field.
            self.log.warning("erp_record_skipped", field=exc.field, reason=exc.message)
            return None
        if outcome.event is None:
            self._log_unmapped(outcome.unmapped_status)
        return outcome.event

    def _log_unmapped(self, status: str | None) -> None:
        self.log.info("erp_status_unmapped", status=(status or "")[:64])
