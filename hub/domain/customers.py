"""Customers: who an event's customer is, what an event changes about them, and their contact
details for planning.

A ``cipher`` here is anything with the :class:`hub.security.PiiCipher` methods used (the
pipeline's, or a per-batch cache in front of it); a ``row`` is anything with a customer's
column attributes (an entity or a plain row).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from hub.contact import is_email, phone_problem
from hub.domain.planner import Contact
from hub.jsonutil import loads

if TYPE_CHECKING:
    from datetime import datetime

    from hub.domain.views import CustomerView
    from hub.events import Customer as EventCustomer
    from hub.security import PiiCipher


def customer_identity(source: str, customer: EventCustomer | None, cipher: PiiCipher) -> str | None:
    """``<source>:<platform id>`` when the platform names the customer, else the email's keyed
    hash, else None. Never plaintext."""
    if customer is None:
        return None
    if customer.id:
        return f"{source}:{customer.id}"
    email_hash = cipher.lookup_hash(customer.email)
    return f"email:{email_hash}" if email_hash else None


def merge_customer(view: CustomerView, data: EventCustomer, now: datetime) -> CustomerView:
    """``view`` with what the event says overwriting (only the fields it has). An email or
    phone that breaks the shared rules (:mod:`hub.contact`) never replaces a stored one:
    ingress refuses such events, but one may come from enrichment or an older inbox row."""
    merged = replace(view, updated_at=now)
    # The stored value passed these rules already: checking it again (a phone number's parse
    # is the slowest step of an event) would change nothing.
    email, phone = (data.email or "").strip(), (data.phone or "").strip()
    if email and email != view.email and is_email(email):
        merged.email = email
    if phone and phone != view.phone and phone_problem(data.phone) is None:
        merged.phone = phone
    if data.name:
        merged.name = data.name
    if data.attributes:  # per name: an event naming one address keeps the others
        merged.attributes = {**view.attributes, **data.attributes}
    if data.locale:
        merged.locale = data.locale
    if data.timezone:
        merged.timezone = data.timezone
    return merged


def contact_from(view: CustomerView | None) -> Contact:
    """The contact details of ``view`` for planning (empty without a customer)."""
    if view is None:
        return Contact()
    return Contact(email=view.email, phone=view.phone, locale=view.locale,
                   timezone=view.timezone, preferences=dict(view.preferences),
                   attributes=dict(view.attributes))


def contact_of(row: Any, cipher: PiiCipher) -> Contact:
    """Decrypt a stored customer's contact details for planning."""
    if row is None:
        return Contact()
    return Contact(email=cipher.decrypt(row.email_enc), phone=cipher.decrypt(row.phone_enc),
                   locale=row.locale, timezone=row.timezone,
                   preferences=dict(row.preferences or {}),
                   attributes=attributes_of(row, cipher))


def attributes_of(row: Any, cipher: PiiCipher) -> dict[str, str]:
    """The customer's channel addresses (``customer.attributes``), decrypted."""
    token = getattr(row, "attributes_enc", None)
    return loads(cipher.decrypt(token)) if token is not None else {}
