"""Mandrill answers and transport failures, as the hub's delivery errors.

Texts name the sink, the HTTP status and an excerpt of Mandrill's answer with addresses masked;
the API key never appears (the official client puts it in the request body, not in errors).
"""

from __future__ import annotations

from typing import Any

import requests
import urllib3.exceptions
from mailchimp_transactional.api_client import ApiClientError

from hub.errors import (
    DeliveryError,
    MessageRejected,
    OutcomeUnknown,
    ProviderMisconfigured,
    ProviderUnavailable,
    RateLimited,
    RecipientRefused,
)
from hub.logs import redact_text

#: Error names that mean the account or sink settings are wrong, not this message.
_CONFIGURATION = frozenset({"Invalid_Key", "PaymentRequired", "Unknown_Subaccount",
                            "Unknown_Template", "Invalid_Template"})
_TRANSIENT = frozenset({"GeneralError", "ServiceUnavailable"})
_EXCERPT = 300
#: Failures urllib3 reports before any byte of the request was sent.
_BEFORE_SEND = (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError,
                urllib3.exceptions.NameResolutionError)


def _excerpt(text: Any, secret: str) -> str:
    if isinstance(text, dict):
        shown = f"{text.get('name')}: {text.get('message')}"
    else:
        shown = " ".join(str(text).split())
        if "<html" in shown.lower():
            shown = "HTML error page from the gateway"
    shown = redact_text(shown)[:_EXCERPT]
    return shown.replace(secret, "[api key]") if secret else shown


def error_for_answer(provider: str, status: int, text: Any, secret: str) -> DeliveryError:
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
        return RateLimited("Mandrill rate limit reached", **common)
    if name in _TRANSIENT or status >= 500:
        return ProviderUnavailable("Mandrill is unavailable", **common)
    if status in (401, 403, 404, 405):
        return ProviderMisconfigured("Mandrill did not accept the request (check api_key and "
                                     "base_url)", **common)
    return MessageRejected("Mandrill refused the request", **common)


def error_for_client_error(provider: str, exc: ApiClientError, secret: str) -> DeliveryError:
    """Map the official client's ``ApiClientError(text, status_code)``."""
    return error_for_answer(provider, exc.status_code, exc.text, secret)


def error_for_recipient(provider: str, result: dict[str, Any]) -> RecipientRefused:
    """A ``rejected`` or ``invalid`` per-recipient status in a 200 answer."""
    if result.get("status") == "invalid":
        return RecipientRefused("Mandrill says the recipient address is invalid",
                                provider=provider, status=200, detail="invalid")
    reason = str(result.get("reject_reason") or "unknown")
    return RecipientRefused(f"Mandrill rejected the recipient ({reason})", provider=provider,
                            status=200, detail=f"rejected: {reason}")


def error_for_exception(provider: str, exc: requests.RequestException) -> DeliveryError:
    """A transport failure: before the request went out it is retried, after it the outcome
    is unknown (Mandrill may have queued the message)."""
    kind = type(exc).__name__
    if isinstance(exc, requests.ConnectTimeout):
        return ProviderUnavailable("Mandrill did not accept a connection in time",
                                   provider=provider, detail=kind)
    if isinstance(exc, requests.ReadTimeout):
        return OutcomeUnknown("no answer from Mandrill in time after the request was sent",
                              provider=provider, detail=kind)
    cause = exc.args[0] if exc.args else None
    if isinstance(cause, urllib3.exceptions.MaxRetryError) and isinstance(cause.reason,
                                                                          _BEFORE_SEND):
        return ProviderUnavailable("cannot connect to Mandrill", provider=provider,
                                   detail=type(cause.reason).__name__)
    return OutcomeUnknown("the connection to Mandrill failed after the request was sent",
                          provider=provider, detail=kind)
