"""SMTP sink: email through any SMTP relay (aiosmtplib). Registered under the config type
``smtp``. SMTP has no status webhook: the relay's answer is the only receipt."""

from __future__ import annotations

from hub.contract import hookimpl
from returnhub_smtp.sink import SmtpSink

__all__ = ["SmtpSink"]


@hookimpl
def returnhub_register_connectors(register):
    """Register :class:`SmtpSink`."""
    register(SmtpSink)
