"""SMTP replies and connection failures, as the hub's delivery errors.

The step that failed matters as much as the reply code (RFC 5321 §4.2.1: 4yz transient, 5yz
permanent): a 5yz to RCPT refuses the recipient, to MAIL FROM or AUTH it means our settings are
wrong, to DATA the message itself; a timeout or dropped connection after DATA was sent leaves
the outcome unknown. Reply texts often quote the address, so they are masked.
"""

from __future__ import annotations

import ssl
from enum import StrEnum

import aiosmtplib

from hub.contract import (
    DeliveryError,
    MessageRejected,
    OutcomeUnknown,
    ProviderMisconfigured,
    ProviderUnavailable,
    RecipientRefused,
    redact_text,
)


class Step(StrEnum):
    """Where in the SMTP exchange the sink is."""

    CONNECT = "connect"
    AUTH = "auth"
    MAIL = "mail"
    RCPT = "rcpt"
    DATA = "data"


def _detail(exc: BaseException) -> str:
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return redact_text(f"{exc.code} {' '.join(exc.message.split())}")[:300]
    return type(exc).__name__


def _reply_error(provider: str, step: Step, exc: aiosmtplib.SMTPResponseException
                 ) -> DeliveryError:
    code = exc.code
    common = {"provider": provider, "status": code, "detail": _detail(exc)}
    # 552 to RCPT is the historical "too many recipients": RFC 5321 says treat it as 452.
    transient = 400 <= code < 500 or (step is Step.RCPT and code == 552)
    if transient:
        return ProviderUnavailable(f"the SMTP relay deferred at {step}", **common)
    if step is Step.RCPT:
        return RecipientRefused("the SMTP relay refused the recipient", **common)
    if step is Step.DATA:
        return MessageRejected("the SMTP relay refused the message", **common)
    if step in (Step.AUTH, Step.MAIL):
        return ProviderMisconfigured(f"the SMTP relay refused our {step} (check username, "
                                     "password and from_address)", **common)
    return ProviderUnavailable("the SMTP relay refused the connection", **common)


def error_for(provider: str, step: Step, exc: BaseException) -> DeliveryError:
    """The delivery error ``exc`` means at ``step``."""
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return _reply_error(provider, step, exc)
    if isinstance(exc, ssl.SSLError) or (
            isinstance(exc, aiosmtplib.SMTPConnectError) and isinstance(exc.__cause__,
                                                                        ssl.SSLError)):
        return ProviderMisconfigured("TLS with the SMTP relay failed (certificate or "
                                     "security setting)", provider=provider,
                                     detail=type(exc.__cause__ or exc).__name__)
    if isinstance(exc, aiosmtplib.SMTPNotSupported) or (
            type(exc) is aiosmtplib.SMTPException and step in (Step.CONNECT, Step.AUTH)):
        return ProviderMisconfigured("the SMTP relay does not offer what the settings ask "
                                     "(STARTTLS or AUTH)", provider=provider,
                                     detail=type(exc).__name__)
    if step is Step.DATA and isinstance(exc, aiosmtplib.SMTPTimeoutError | ConnectionError
                                        | OSError):
        return OutcomeUnknown("the SMTP relay did not confirm the message after DATA",
                              provider=provider, detail=_detail(exc))
    if isinstance(exc, aiosmtplib.SMTPException | OSError | TimeoutError):
        return ProviderUnavailable(f"the SMTP exchange failed at {step}", provider=provider,
                                   detail=_detail(exc))
    return OutcomeUnknown(f"unexpected failure at {step}", provider=provider,
                          detail=_detail(exc))
