"""Settings of an ERP / WMS source instance (``type = "erp"``).

Everything ERP-specific is configuration: where the records are, how to page through them,
which JSON path holds each hub field (``[sources.<name>.mapping]``) and which ERP status means
which hub event (``[sources.<name>.status_map]``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from hub.contract import PRIVACY_EVENTS, ConnectorSettings, EventType


class ErpMapping(ConnectorSettings):
    """Hub field → dotted JSON path in an ERP record (``a.b.0.c``; integers index arrays).

    A JSON ``false`` counts as absent (Odoo writes ``false`` for empty fields). Unset fields
    are left empty on the event.
    """

    return_id: str = Field(description="The return / RMA reference, e.g. `name`.")
    status: str = Field(description="The record's status, looked up in `status_map`.")
    record_id: str | None = Field(
        None, description="The record's own key (default: the return_id path); with the "
        "record's version (`cursor_path`) it forms the dedupe key.")
    occurred_at: str | None = Field(
        None, description="When the change happened (ISO 8601 or Unix seconds). Default: the "
        "`cursor_path` value when it is a timestamp, else the time of receipt.")
    order_id: str | None = Field(None, description="The order's id in the ERP.")
    order_number: str | None = Field(None, description="The order number customers see.")
    order_total: str | None = Field(None, description="The order total (decimal).")
    currency: str | None = Field(
        None, description="ISO 4217 code for order_total and item prices (else "
        "`default_currency`).")
    customer_id: str | None = Field(None, description="The customer's id in the ERP.")
    customer_email: str | None = Field(None, description="The customer's email.")
    customer_phone: str | None = Field(None, description="The customer's phone (E.164).")
    customer_name: str | None = Field(None, description="The customer's name.")
    reason: str | None = Field(None, description="The return reason.")
    refund_amount: str | None = Field(None, description="Refund or credit amount (decimal).")
    refund_currency: str | None = Field(
        None, description="ISO 4217 code of the refund (else `currency`, else "
        "`default_currency`).")
    refund_method: str | None = Field(
        None, description="How the customer was paid back (refund, credit note, store credit).")
    grade: str | None = Field(None, description="Inspection grade, kept as extra.grade.")
    disposition: str | None = Field(
        None, description="Inspection disposition (restock, refurbish, dispose...), kept as "
        "extra.disposition; a value in `restock_dispositions` turns an inspected event into "
        "return.restocked.")
    tracking_number: str | None = Field(None, description="Return parcel tracking number.")
    tracking_carrier: str | None = Field(None, description="Return parcel carrier.")
    tracking_url: str | None = Field(None, description="Return parcel tracking URL.")
    items: str | None = Field(
        None, description="An array of return lines; the item_* paths are then relative to "
        "each line. Unset: the item_* paths describe one line on the record itself.")
    item_sku: str | None = Field(None, description="A line's SKU.")
    item_name: str | None = Field(None, description="A line's product name.")
    item_quantity: str | None = Field(None, description="A line's quantity (whole number).")
    item_price: str | None = Field(None, description="A line's unit price (decimal).")
    item_reason: str | None = Field(None, description="A line's return reason.")
    item_category: str | None = Field(None, description="A line's product category.")


class ErpSettings(ConnectorSettings):
    """An ERP or WMS that reports return authorizations by webhook, by polling, or both."""

    # -- polling ---------------------------------------------------------------------------
    base_url: str | None = Field(
        None, description="Base URL of the ERP's REST API, e.g. `https://erp.example.com`. "
        "Unset: webhooks only, no polling.")
    path: str = Field("/api/rma", description="Path of the RMA list endpoint (GET).")
    cursor_param: str = Field(
        "updated_since", description="Query parameter that asks for records changed after "
        "the cursor.")
    cursor_path: str = Field(
        "updated_at", description="Path of each record's version: its updated-at timestamp "
        "or a change sequence. It is the polling cursor and part of the dedupe key.")
    records_path: str = Field(
        "records", description="Path of the record array in a page (empty: the page is the "
        "array).")
    pagination: Literal["next_link", "page", "offset", "none"] = Field(
        "next_link", description="next_link: follow the URL at `next_path`; page: increment "
        "`page_param` from 1; offset: advance `offset_param` by the records received; none: "
        "one page per poll.")
    next_path: str = Field("next", description="Path of the next page's URL (next_link).")
    page_param: str = Field("page", description="Page-number parameter (page).")
    offset_param: str = Field("offset", description="Offset parameter (offset).")
    page_size_param: str | None = Field(
        "limit", description="Page-size parameter sent with page/offset paging (unset: none).")
    page_size: int = Field(100, ge=1, le=10_000, description="Records asked for per page.")
    query: dict[str, str] = Field(
        default_factory=dict, description="Extra query parameters sent on the first request, "
        "e.g. a sort order (`order = \"write_date asc, id asc\"`).")
    max_pages: int = Field(1000, ge=1, description="Most pages read in one poll.")
    timeout_seconds: float = Field(30.0, gt=0, le=300,
                                   description="Longest wait for one page.")
    bearer_token: SecretStr | None = Field(None, description="Sent as `Authorization: Bearer`.")
    username: str | None = Field(None, description="HTTP basic auth user (with `password`).")
    password: SecretStr | None = Field(None, description="HTTP basic auth password.")

    # -- webhooks --------------------------------------------------------------------------
    webhook_secret: SecretStr | None = Field(
        None, description="HMAC-SHA256 key of webhook bodies. Unset: every webhook is refused.")
    previous_webhook_secret: SecretStr | None = Field(
        None, description="The secret before a rotation, accepted until removed.")
    signature_header: str = Field("X-Signature", description="Header holding the signature.")
    signature_encoding: Literal["hex", "base64"] = Field(
        "hex", description="How the HMAC digest is written in the header.")
    signature_prefix: str = Field(
        "", description="Text before the digest in the header, e.g. `sha256=`.")
    webhook_record_path: str = Field(
        "", description="Path of the record (or array of records) inside a webhook body "
        "(empty: the body itself).")

    # -- meaning ---------------------------------------------------------------------------
    mapping: ErpMapping = Field(description="Hub field → path in a record.")
    status_map: dict[str, EventType] = Field(
        description="ERP status value → hub event type, e.g. `received = \"return.received\"`. "
        "Records whose status is not listed are acknowledged with no event.")
    restock_dispositions: list[str] = Field(
        default_factory=lambda: ["restock", "restocked"],
        description="Dispositions (case-insensitive) that make an inspected record "
        "return.restocked.")
    default_currency: str | None = Field(
        None, pattern=r"^[A-Za-z]{3}$", description="ISO 4217 code for amounts whose record "
        "names none.")

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must start with https:// (or http:// on a trusted network)")
        return value.rstrip("/") if value else value

    @field_validator("status_map")
    @classmethod
    def _return_events_only(cls, value: dict[str, EventType]) -> dict[str, EventType]:
        wrong = sorted(k for k, v in value.items() if v in PRIVACY_EVENTS)
        if wrong:
            raise ValueError(f"privacy events cannot come from an ERP status ({', '.join(wrong)})")
        return value

    @model_validator(mode="after")
    def _one_auth(self) -> ErpSettings:
        if self.bearer_token is not None and (self.username or self.password):
            raise ValueError("set bearer_token or username/password, not both")
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        return self

    def secrets(self) -> list[bytes]:
        """Every key a webhook may be signed with: the current one first."""
        return [v.get_secret_value().encode()
                for v in (self.webhook_secret, self.previous_webhook_secret) if v is not None]
