"""The internal plugin that registers the ``portal`` sink.

It is registered by :func:`hub.plugins.get_plugin_manager` under the name ``portal`` the way an
entry point would be (so ``plugins.disabled = ["portal"]`` still turns it off), but it is core
code: it lives in ``hub/`` and may use the store.
"""

from __future__ import annotations

from hub.contract import hookimpl
from hub.portal.sink import PortalSink

#: Checked like every plugin's range (it ships with the hub, so it always matches).
RETURNHUB_API = ">=1.0,<2"


@hookimpl
def returnhub_register_connectors(register):  # noqa: ANN001, ANN201
    """Register the ``portal`` sink type."""
    register(PortalSink)
