"""Mandrill answers and transport failures, as the hub's delivery errors.

Texts name the sink, the HTTP status and an excerpt of Mandrill's answer with addresses masked;
the API key never appears (it travels in the request body, and is masked should an answer
echo it).
"""

from __future__ import annotations

from typing import Any

from hub.contract import (
    DeliveryError,
    MessageRejected,
    ProviderMisconfigured,
    ProviderUnavailable,
    RateLimited,
    RecipientRefused,
    redact_text,
    transport_error,
)

#: Error names that mean the account or sink settings are wrong, not this message.
_CONFIGURATION = frozenset({"Invalid_Key", "PaymentRequired", "Unknown_Subaccount",
                            "Unknown_Template", "Invalid_Template"})
_TRANSIENT = frozenset({"GeneralError", "ServiceUnavailable"})
_EXCERPT = 300


def _excerpt(text: Any, secret: str) -> str:
    if isinstance(text, dict):
        shown = f"{text.get('name')}: {text.get('message')}"
    else:
        shown = " ".join(str(text).split())
        if "<html" in shown.lower():
            shown = "HTML error page from the gateway"
    shown = redact_text(shown)[:_EXCERPT]
    return shown.replace(secret, "[api key]") if secret else shown


def error_for_answer(provider: str, status: int, text: Any, secret: str,
                     retry_after: float | None = None) -> DeliveryError:
    """The delivery error an error answer means (``text`` is the decoded JSON or raw text).

    The error ``name`` decides, so the pre-2023 API that answered 500 for everything maps the
    same as today's 401/400.
    """
    name = text.get("name") if isinstance(text, dict) else None
    common = {"provider": provider, "status": status, "detail": _excerpt(text, secret)}
    if name in _CONFIGURATION or (name is None and "Invalid API key" in str(text)):
        return ProviderMisconfigured("Mandrill refused the API key or account settings", **common)
    if name == "ValidationError":
        return MessageRejected("Mandrill rejected the message as invalid", **common)
    if status == 429 or name == "Too_Many_Requests":
        return RateLimited("Mandrill rate limit reached", retry_after=retry_after, **common)
    if name in _TRANSIENT or status >= 500:
        return ProviderUnavailable("Mandrill is unavailable", **common)
    if status in (401, 403, 404, 405):
        return ProviderMisconfigured("Mandrill did not accept the request (check api_key and "
                                     "base_url)", **common)
    return MessageRejected("Mandrill refused the request", **common)


def error_for_recipient(provider: str, result: dict[str, Any]) -> RecipientRefused:
    """A ``rejected`` or ``invalid`` per-recipient status in a 200 answer."""
    if result.get("status") == "invalid":
        return RecipientRefused("Mandrill says the recipient address is invalid",
                                provider=provider, status=200, detail="invalid")
    reason = str(result.get("reject_reason") or "unknown")
    return RecipientRefused(f"Mandrill rejected the recipient ({reason})", provider=provider,
                            status=200, detail=f"rejected: {reason}")


def error_for_exception(provider: str, exc: BaseException) -> DeliveryError:
    """A transport failure: see :func:`hub.errors.transport_error`."""
    return transport_error("Mandrill", provider, exc)
