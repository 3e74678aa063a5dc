"""Returnhub: a plugin-based integration hub for e-commerce return notifications.

Plugins import from :mod:`hub.contract` only (the public, versioned plugin API)::

    from hub.contract import hookimpl, Sink, SendResult, OutboundMessage

Everything else under ``hub`` is the core's own and may change in any release.
"""

from __future__ import annotations

import pluggy

#: Marker for plugin hook implementations; plugins use it as ``hub.contract.hookimpl``.
hookimpl = pluggy.HookimplMarker("returnhub")

__all__ = ["hookimpl"]
