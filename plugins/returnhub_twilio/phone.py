"""Phone numbers as Twilio wants them: E.164 (the hub's shared rule, :mod:`hub.contact`)."""

from __future__ import annotations

from hub.contract import to_e164

__all__ = ["to_e164"]
