"""Mailchimp Transactional (Mandrill) sink: email through ``messages/send``, delivery status
from Mandrill's signed webhooks. Registered under the config type ``mailchimp_transactional``."""

from __future__ import annotations

from hub.contract import hookimpl
from returnhub_mailchimp.sink import MandrillSink

#: The plugin API versions this plugin works with (checked by the hub at load).
RETURNHUB_API = ">=1.0,<2"

__all__ = ["MandrillSink"]


@hookimpl
def returnhub_register_connectors(register):
    """Register :class:`MandrillSink`."""
    register(MandrillSink)
