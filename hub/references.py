"""The reference a customer knows a return by, chosen per source. Pure.

Platforms key returns by ids customers never see (``gid://shopify/Return/1001``); messages,
the portal and the team email name a return the way the customer does: Shopify's return name
(``#5001-R1``), the order name, or the ERP's RMA number. A source fills
``ReturnEvent.customer_reference`` with its natural choice; ``customer_reference`` in
``[sources.<name>]`` picks another.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hub.events import ReturnEvent


def pick_reference(event: ReturnEvent, mode: str) -> str | None:
    """The customer-facing reference ``event`` carries under ``mode`` (see
    :class:`hub.notifiable.OnboardingSettings`), None when it carries none."""
    if mode == "return_name":
        name = (event.extra or {}).get("return_name")
        return name if isinstance(name, str) and name.strip() else None
    if mode == "order_name":
        return event.order_number
    if mode == "rma":
        return event.return_id
    return event.customer_reference
