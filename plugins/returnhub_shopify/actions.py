"""Approve or decline a requested return in Shopify, on behalf of the rules stage.

Both mutations are sent with ``notifyCustomer: false`` unless told otherwise: the hub sends its
own notifications, and the customer must not hear the news twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hub.contract import PermanentError
from returnhub_shopify.queries import APPROVE_MUTATION, DECLINE_MUTATION

if TYPE_CHECKING:
    from returnhub_shopify.graphql import AdminApi

#: ReturnDeclineReason values the Admin API accepts.
DECLINE_REASONS = frozenset({"FINAL_SALE", "RETURN_PERIOD_ENDED", "OTHER"})
#: Shopify's limit on the note shown to the customer.
MAX_DECLINE_NOTE = 500


class ShopifyActionError(PermanentError):
    """Shopify refused the action (``userErrors``), or the action was asked for wrongly.

    Retrying the same action will not succeed; ``user_errors`` keeps Shopify's list.
    """

    def __init__(self, message: str, *, provider: str = "",
                 user_errors: list[dict[str, Any]] | None = None) -> None:
        self.user_errors = user_errors or []
        detail = "; ".join(
            f"{'.'.join(map(str, e.get('field') or [])) or 'input'}: {e.get('message', '')}"
            for e in self.user_errors)
        super().__init__(message, provider=provider, detail=detail)


@dataclass(frozen=True, slots=True)
class Mutation:
    """One mutation ready to send: its document, name and variables."""

    name: str
    document: str
    variables: dict[str, Any]


def approve(return_id: str, *, notify_customer: bool = False) -> Mutation:
    """``returnApproveRequest``: REQUESTED → OPEN."""
    return Mutation("returnApproveRequest", APPROVE_MUTATION,
                    {"input": {"id": return_id, "notifyCustomer": notify_customer}})


def decline(return_id: str, *, provider: str, decline_reason: str = "OTHER",
            decline_note: str | None = None, notify_customer: bool = False) -> Mutation:
    """``returnDeclineRequest``: REQUESTED → DECLINED, with a reason and an optional note."""
    reason = str(decline_reason).strip().upper()
    if reason not in DECLINE_REASONS:
        raise ShopifyActionError(
            f"decline_reason must be one of {', '.join(sorted(DECLINE_REASONS))}",
            provider=provider)
    if decline_note is not None and len(decline_note) > MAX_DECLINE_NOTE:
        raise ShopifyActionError(f"decline_note is longer than {MAX_DECLINE_NOTE} characters",
                                 provider=provider)
    payload: dict[str, Any] = {"id": return_id, "declineReason": reason,
                               "notifyCustomer": notify_customer}
    if decline_note:
        payload["declineNote"] = decline_note
    return Mutation("returnDeclineRequest", DECLINE_MUTATION, {"input": payload})


async def run(api: AdminApi, mutation: Mutation, provider: str) -> dict[str, Any]:
    """Send ``mutation``; return the return's id and new status, or raise on ``userErrors``."""
    data = await api.execute(mutation.document, mutation.variables)
    result = data.get(mutation.name) if isinstance(data.get(mutation.name), dict) else {}
    user_errors = [e for e in result.get("userErrors") or [] if isinstance(e, dict)]
    if user_errors:
        raise ShopifyActionError(f"Shopify refused {mutation.name}", provider=provider,
                                 user_errors=user_errors)
    returned = result.get("return") if isinstance(result.get("return"), dict) else {}
    return {"action": mutation.name, "return_id": returned.get("id"),
            "status": returned.get("status")}
