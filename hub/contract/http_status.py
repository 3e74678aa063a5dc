"""What a provider's HTTP answer means: the status-to-error table, Retry-After, and excerpts.

A sink that speaks HTTP declares a :class:`StatusTable` and lets it turn a non-2xx answer into
the :class:`~hub.errors.DeliveryError` the dispatcher acts on. Two meanings are the sink's own
choice because they depend on the provider: what a 404 means (a wrong ``base_url`` for most,
an unknown resource for some) and what a 5xx means. An email provider that fails before taking
the message answers 5xx, and the next provider is tried at once (``ProviderUnavailable``); an
SMS provider may have created the message before its 5xx, so the outcome is unknown and must
be reconciled before any resend (``OutcomeUnknown``). See docs/reliability.md.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime

from hub.errors import (
    DeliveryError,
    MessageRejected,
    ProviderMisconfigured,
    ProviderUnavailable,
    RateLimited,
)
from hub.logs import redact_text

#: Longest excerpt of a provider's answer kept in an error.
EXCERPT_CHARS = 300


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP date (RFC 9110
    10.2.3). None when absent or unreadable; a date in the past is 0."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # "-0000" and the asctime form: HTTP dates are always GMT
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
        return max(0.0, math.ceil(seconds))
    return max(0.0, seconds) if math.isfinite(seconds) else None


def excerpt(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` on one line, emails and phone numbers masked, every secret replaced, cut to
    :data:`EXCERPT_CHARS`: what an error may carry of a provider's answer."""
    shown = redact_text(" ".join(text.split()))
    for secret in secrets:
        if secret:
            shown = shown.replace(secret, "[secret]")
    return shown[:EXCERPT_CHARS]


@dataclass(frozen=True, slots=True)
class StatusTable:
    """How a provider's HTTP status maps to a delivery error.

    2xx is success (no error); 429 is :class:`RateLimited`; ``misconfigured`` statuses (401,
    403 by default) are :class:`ProviderMisconfigured`; ``rejected`` ones (400, 422) are
    :class:`MessageRejected`; 404 is ``not_found``; 5xx is ``server_error``; any other status
    is ``other``.

    :param vendor: the provider's name for error texts (``"SendGrid"``).
    :param server_error: ``ProviderUnavailable`` (nothing was taken: fail over at once) or
        ``OutcomeUnknown`` (the provider may have taken it: reconcile first).
    """

    vendor: str
    server_error: type[DeliveryError] = ProviderUnavailable
    not_found: type[DeliveryError] = ProviderMisconfigured
    rejected: frozenset[int] = field(default_factory=lambda: frozenset({400, 422}))
    misconfigured: frozenset[int] = field(default_factory=lambda: frozenset({401, 403}))
    other: type[DeliveryError] = MessageRejected

    def error_for(self, provider: str, status: int, *, detail: str = "",
                  retry_after: float | None = None, fields: Iterable[str] = ()
                  ) -> DeliveryError | None:
        """The error ``status`` means (None for 2xx). ``detail`` must already be an
        :func:`excerpt`; ``retry_after`` is kept on a 429; a rejection names the ``fields``
        the provider's answer blames."""
        if 200 <= status < 300:
            return None
        common = {"provider": provider, "status": status, "detail": detail}
        vendor = self.vendor
        if status == 429:
            return RateLimited(f"{vendor} rate limit reached", retry_after=retry_after, **common)
        if status in self.misconfigured:
            return ProviderMisconfigured(f"{vendor} refused the credentials or account "
                                         "settings", **common)
        if status in self.rejected:
            named = ", ".join(dict.fromkeys(fields))
            return MessageRejected(f"{vendor} rejected the message"
                                   + (f" ({named})" if named else ""), **common)
        if status == 404:
            return self.not_found(f"{vendor} answered 404 (check base_url)", **common)
        if status >= 500:
            return self.server_error(f"{vendor} answered {status}", **common)
        return self.other(f"{vendor} refused the request", **common)


def retry_after_from(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """:func:`parse_retry_after` of the ``Retry-After`` header in ``headers``."""
    return parse_retry_after(headers.get("Retry-After"), now)
