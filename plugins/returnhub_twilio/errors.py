"""Twilio answers and transport failures, as the hub's delivery errors.

Twilio's error messages quote phone numbers ("The 'To' number +1… is not valid"), so excerpts
are masked; the request URI (with the account SID) and credentials never appear.
"""

from __future__ import annotations

from twilio.base.exceptions import TwilioRestException

from hub.errors import (
    DeliveryError,
    MessageRejected,
    OutcomeUnknown,
    ProviderMisconfigured,
    RateLimited,
    RecipientRefused,
    transport_error,
)
from hub.logs import redact_text

#: The recipient cannot get this SMS: 21211 invalid To, 21614 not a mobile, 21610 replied
#: STOP, 21612 not reachable by SMS.
RECIPIENT_CODES = frozenset({21211, 21610, 21612, 21614})
#: The account or sender is wrong, not this message: 20003 auth, 20404 no such account/URL,
#: 21212/21606/21603 sender, 21408 region not enabled (Geo Permissions), 21608 trial account.
CONFIGURATION_CODES = frozenset({20003, 20404, 21212, 21603, 21606, 21408, 21608, 21659})
#: Try again later: 20429 concurrency limit, 21611 sender's queue is full.
RATE_CODES = frozenset({20429, 21611})
_EXCERPT = 300
_PREFIX = "Unable to create record: "


def _detail(exc: TwilioRestException) -> str:
    text = str(exc.msg or "").removeprefix(_PREFIX)
    return redact_text(f"{exc.code}: {text}" if exc.code else text)[:_EXCERPT]


def error_for_rest(provider: str, exc: TwilioRestException) -> DeliveryError:
    """The delivery error a Twilio REST error means; the Twilio code decides before the status."""
    code, status = exc.code, exc.status
    common = {"provider": provider, "status": status, "detail": _detail(exc)}
    if code in RECIPIENT_CODES:
        return RecipientRefused(f"Twilio refused the recipient (error {code})", **common)
    if code in RATE_CODES or status == 429:
        return RateLimited(f"Twilio asked to slow down (error {code})", **common)
    if code in CONFIGURATION_CODES or status in (401, 403, 404):
        return ProviderMisconfigured(f"Twilio refused the account or sender (error {code})",
                                     **common)
    if status >= 500:
        # Twilio may have created the message before the error (issue 13): reconcile first.
        return OutcomeUnknown(f"Twilio answered {status}; the message may have been taken",
                              **common)
    return MessageRejected(f"Twilio rejected the message (error {code})", **common)


def rate_limited(provider: str, retry_after: str | None) -> RateLimited:
    """A 429 (error 20429: too many concurrent requests), with Retry-After when Twilio sent it.

    Raised by the transport, because the SDK's exception drops the response headers.
    """
    try:
        seconds = max(0.0, float(retry_after)) if retry_after is not None else None
    except ValueError:
        seconds = None
    return RateLimited("Twilio asked to slow down (error 20429)", retry_after=seconds,
                       provider=provider, status=429, detail="20429: Too Many Requests")


def error_for_exception(provider: str, exc: BaseException) -> DeliveryError:
    """A transport failure: see :func:`hub.errors.transport_error`."""
    return transport_error("Twilio", provider, exc)
