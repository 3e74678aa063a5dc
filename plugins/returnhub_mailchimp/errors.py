"""What Mandrill's answers mean, on top of the contract's status table.

Mandrill names its errors (``{"status": "error", "name": …, "message": …}``) and the name
decides before the status, so the pre-2023 API that answered 500 for everything maps the same
as today's 401/400. A 200 may still refuse the recipient (``rejected``/``invalid``). The API
key travels in the request body and is masked should an answer echo it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hub.contract import (
    MessageRejected,
    ProviderMisconfigured,
    ProviderUnavailable,
    RateLimited,
    RecipientRefused,
    StatusTable,
    retry_after_from,
)

if TYPE_CHECKING:
    from hub.contract import DeliveryError, HttpAnswer

TABLE = StatusTable(vendor="Mandrill", misconfigured=frozenset({401, 403, 405}))
#: Error names that mean the account or sink settings are wrong, not this message.
_CONFIGURATION = frozenset({"Invalid_Key", "PaymentRequired", "Unknown_Subaccount",
                            "Unknown_Template", "Invalid_Template"})
_TRANSIENT = frozenset({"GeneralError", "ServiceUnavailable"})


def decoded(answer: HttpAnswer) -> Any:
    """The answer's JSON when it says it is JSON, else its text."""
    value = answer.json() if "json" in answer.content_type else None
    return answer.text() if value is None else value


def describe(text: Any) -> str:
    """What an error shows of the answer (the caller masks it)."""
    if isinstance(text, dict):
        return f"{text.get('name')}: {text.get('message')}"
    return "HTML error page from the gateway" if "<html" in str(text).lower() else str(text)


def by_name(answer: HttpAnswer, text: Any, by_status: DeliveryError) -> DeliveryError:
    """The error Mandrill's error name means; ``by_status`` (the table's) when it names none
    the hub knows."""
    name = text.get("name") if isinstance(text, dict) else None
    common = {"provider": by_status.provider, "status": by_status.status,
              "detail": by_status.detail}
    if name in _CONFIGURATION or (name is None and "Invalid API key" in str(text)):
        return ProviderMisconfigured("Mandrill refused the API key or account settings", **common)
    if name == "ValidationError":
        return MessageRejected("Mandrill rejected the message as invalid", **common)
    if name == "Too_Many_Requests" and not isinstance(by_status, RateLimited):
        return RateLimited("Mandrill rate limit reached",
                           retry_after=retry_after_from(answer.headers), **common)
    if name in _TRANSIENT:
        return ProviderUnavailable("Mandrill is unavailable", **common)
    return by_status


def error_for_recipient(provider: str, result: dict[str, Any]) -> RecipientRefused:
    """A ``rejected`` or ``invalid`` per-recipient status in a 200 answer."""
    if result.get("status") == "invalid":
        return RecipientRefused("Mandrill says the recipient address is invalid",
                                provider=provider, status=200, detail="invalid")
    reason = str(result.get("reject_reason") or "unknown")
    return RecipientRefused(f"Mandrill rejected the recipient ({reason})", provider=provider,
                            status=200, detail=f"rejected: {reason}")
