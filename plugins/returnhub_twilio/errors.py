"""Twilio's REST errors, as the hub's delivery errors (transport failures: see
:class:`hub.contract.HttpSink`).

Twilio's error messages quote phone numbers ("The 'To' number +1… is not valid"), so excerpts
are masked; the request URI (with the account SID) and credentials never appear.
"""

from __future__ import annotations

from twilio.base.exceptions import TwilioRestException

from hub.contract import (
    DeliveryError,
    OutcomeUnknown,
    ProviderMisconfigured,
    RateLimited,
    RecipientRefused,
    StatusTable,
    excerpt,
    parse_retry_after,
)

#: The recipient cannot get this SMS: 21211 invalid To, 21614 not a mobile, 21610 replied
#: STOP, 21612 not reachable by SMS.
RECIPIENT_CODES = frozenset({21211, 21610, 21612, 21614})
#: The account or sender is wrong, not this message: 20003 auth, 20404 no such account/URL,
#: 21212/21606/21603 sender, 21408 region not enabled (Geo Permissions), 21608 trial account.
CONFIGURATION_CODES = frozenset({20003, 20404, 21212, 21603, 21606, 21408, 21608, 21659})
#: Try again later: 20429 concurrency limit, 21611 sender's queue is full.
RATE_CODES = frozenset({20429, 21611})
#: Twilio may have created the message before a 5xx (issue 13): the outcome is unknown and is
#: reconciled before any resend. 401/403/404 mean the account or URL is wrong.
TABLE = StatusTable(vendor="Twilio", server_error=OutcomeUnknown)
_PREFIX = "Unable to create record: "


def _detail(exc: TwilioRestException) -> str:
    text = str(exc.msg or "").removeprefix(_PREFIX)
    return excerpt(f"{exc.code}: {text}" if exc.code else text)


def error_for_rest(provider: str, exc: TwilioRestException) -> DeliveryError:
    """The delivery error a Twilio REST error means; the Twilio code decides before the status
    (:data:`TABLE`)."""
    code, status = exc.code, exc.status
    common = {"provider": provider, "status": status, "detail": _detail(exc)}
    if code in RECIPIENT_CODES:
        return RecipientRefused(f"Twilio refused the recipient (error {code})", **common)
    if code in RATE_CODES:
        return RateLimited(f"Twilio asked to slow down (error {code})", **common)
    if code in CONFIGURATION_CODES:
        return ProviderMisconfigured(f"Twilio refused the account or sender (error {code})",
                                     **common)
    return TABLE.error_for(provider, status, detail=common["detail"]) or OutcomeUnknown(
        "Twilio raised an error on a success status", **common)


def rate_limited(provider: str, retry_after: str | None) -> RateLimited:
    """A 429 (error 20429: too many concurrent requests), with Retry-After (seconds or an HTTP
    date) when Twilio sent it.

    Raised by the transport, because the SDK's exception drops the response headers.
    """
    return RateLimited("Twilio asked to slow down (error 20429)",
                       retry_after=parse_retry_after(retry_after),
                       provider=provider, status=429, detail="20429: Too Many Requests")
