"""Admin API models of customers: search, preferences, erasure and export (GDPR)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field, model_validator

from hub.web.admin.schemas_base import Out, Strict

# --- customers ------------------------------------------------------------------------------

class CustomerSearchBody(Strict):
    """Find customers by email or phone (through the keyed hash). Exactly one."""

    email: str | None = Field(None, max_length=320)
    phone: str | None = Field(None, max_length=40)

    @model_validator(mode="after")
    def _exactly_one(self) -> CustomerSearchBody:
        if bool(self.email) == bool(self.phone):
            raise ValueError("give exactly one of email or phone")
        return self


class CustomerOut(Out):
    """A customer, contact details masked."""

    id: int
    email: str | None = Field(description="Masked.")
    phone: str | None = Field(description="Masked.")
    locale: str | None
    timezone: str | None
    preferences: dict[str, Any] = Field(description='Channel opt-ins, e.g. {"sms": false}.')
    returns: int = Field(description="How many returns the hub holds for them.")
    created_at: datetime
    updated_at: datetime


class CustomerList(Out):
    """Customers found."""

    items: list[CustomerOut]


class PreferencesBody(Strict):
    """Channel opt-ins to change; channels not named keep their setting."""

    channels: dict[str, bool] = Field(min_length=1, description='e.g. {"sms": false, '
                                      '"email": true}; names are configured channels.')


class ErasedOut(Out):
    """What an erasure did."""

    customer_id: int
    returns_touched: int


class CustomerExport(Out):
    """Everything the hub holds about one customer, decrypted (GDPR art. 15 / 20)."""

    exported_at: datetime
    customer: dict[str, Any]
    returns: list[dict[str, Any]]
    inbox_events: list[dict[str, Any]]
    portal_messages: list[dict[str, Any]]
