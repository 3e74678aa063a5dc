"""SMTP sink: email through any SMTP relay (aiosmtplib). Registered under the config type
``smtp``. SMTP has no status webhook: the relay's answer is the only receipt."""

from __future__ import annotations

from hub.contract import hookimpl
from returnhub_smtp.sink import SmtpSink

#: The plugin API versions this plugin works with (checked by the hub at load).
RETURNHUB_API = ">=1.0,<2"

__all__ = ["SmtpSink"]


@hookimpl
def returnhub_register_connectors(register):
    """Register :class:`SmtpSink`."""
    register(SmtpSink)
