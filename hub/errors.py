"""Errors a connector raises, classified by what the caller must do next.

Sources raise :class:`SignatureError` (answered 401) and :class:`RequestRejected` (answered
400/422 with the field named). Sinks raise one of the :class:`DeliveryError` subclasses; the
dispatcher decides from the class alone whether to retry, fail over, stop or pause a provider.
Messages must never contain a secret or a customer's contact details.
"""

from __future__ import annotations


class SignatureError(Exception):
    """The request's signature is missing, malformed, stale or wrong (HTTP 401)."""

    code = "invalid_signature"


class RequestRejected(Exception):
    """The request was authentic but cannot be understood (HTTP 400 or 422).

    :param message: what is wrong, for the sender; no payload values.
    :param field: dotted path of the offending field, when there is one.
    :param status: 400 for an unreadable body, 422 for a readable one that fails validation.
    """

    def __init__(
        self, message: str, *, field: str | None = None, status: int = 422, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status
        self.code = code or ("malformed_body" if status == 400 else "invalid_event")


class DeliveryError(Exception):
    """Base of every error a sink raises from ``send``.

    :param provider: the sink instance name, for the error text.
    :param status: the provider's HTTP (or SMTP) status, when there was one.
    :param detail: a short excerpt of the provider's answer, never the API key or recipient.
    """

    #: Whether another provider of the same channel could succeed where this one failed.
    failover: bool = False
    #: Whether the same provider may be tried again later.
    retryable: bool = False

    def __init__(self, message: str, *, provider: str = "", status: int | None = None,
                 detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.status = status
        self.detail = detail[:300]

    def __str__(self) -> str:
        parts = [self.message]
        if self.provider:
            parts.insert(0, f"[{self.provider}]")
        if self.status is not None:
            parts.append(f"(status {self.status})")
        if self.detail:
            parts.append(f"— {self.detail}")
        return " ".join(parts)


class TransientError(DeliveryError):
    """The provider could not take the message now; nothing was sent. Retry or fail over."""

    failover = True
    retryable = True


class ProviderUnavailable(TransientError):
    """Connection refused, 5xx, or a timeout before the request was sent."""


class RateLimited(TransientError):
    """The provider asked us to slow down (429); ``retry_after`` seconds when it said so."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class PermanentError(DeliveryError):
    """Sending this message again, here or elsewhere, will not succeed."""


class RecipientRefused(PermanentError):
    """The recipient is invalid, unsubscribed or blocked: no provider could succeed."""


class MessageRejected(PermanentError):
    """The provider refused the message itself (validation error); fix the template or data."""


class ProviderMisconfigured(PermanentError):
    """Authentication or configuration failed: pause the provider and alert, never retry per
    message. Another provider of the channel may still succeed."""

    failover = True


class OutcomeUnknown(DeliveryError):
    """The request may have reached the provider but no answer came back.

    The dispatcher must not blindly send again through another provider: it records the
    attempt as unknown and reconciles first (status webhooks, the provider's lookup API).
    """


def transport_error(vendor: str, provider: str, exc: BaseException) -> DeliveryError:
    """The delivery error an HTTP transport failure means. Before the request went out
    (no connection, or none in time) nothing was sent: :class:`ProviderUnavailable`. After it
    (no answer in time, a dropped connection) the provider may have taken the message:
    :class:`OutcomeUnknown`.

    A destination the outbound guard refuses (:class:`hub.netguard.DestinationBlocked`) never
    left the process: :class:`ProviderMisconfigured`, so the provider is paused and the next
    one of the channel is tried at once.

    :param vendor: the provider's name for the text (``"SendGrid"``).
    :param provider: the sink instance name.
    """
    import aiohttp  # only sinks that speak HTTP call this

    from hub.netguard import DestinationBlocked

    kind = type(exc).__name__
    if isinstance(exc, DestinationBlocked):
        return ProviderMisconfigured(
            f"the outbound guard refuses {vendor}'s address (see security.outbound_allow)",
            provider=provider, detail=str(exc))
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return ProviderUnavailable(f"{vendor} did not accept a connection in time",
                                   provider=provider, detail=kind)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return ProviderUnavailable(f"cannot connect to {vendor}", provider=provider,
                                   detail=f"{kind}: {exc.os_error.strerror or exc.os_error}")
    if isinstance(exc, TimeoutError):
        return OutcomeUnknown(f"no answer from {vendor} in time after the request was sent",
                              provider=provider, detail=kind)
    return OutcomeUnknown(f"the exchange with {vendor} failed after the request was sent",
                          provider=provider, detail=kind)
