"""Twilio SMS sink: text messages through Programmable Messaging, delivery status from signed
status callbacks, STOP replies from the inbound-message webhook. Registered under the config
type ``twilio_sms``."""

from __future__ import annotations

from hub.contract import hookimpl
from returnhub_twilio.segments import count_segments
from returnhub_twilio.sink import TwilioSmsSink

#: The plugin API versions this plugin works with (checked by the hub at load).
RETURNHUB_API = ">=1.0,<2"

__all__ = ["TwilioSmsSink", "count_segments"]


@hookimpl
def returnhub_register_connectors(register):
    """Register :class:`TwilioSmsSink`."""
    register(TwilioSmsSink)
