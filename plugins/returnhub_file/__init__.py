"""The ``file`` sink: writes each email as an RFC 5322 .eml file and each SMS as JSON into an
outbox folder. The embedded default, so the hub runs with no provider account."""

from __future__ import annotations

from hub.contract import hookimpl
from returnhub_file.sink import FileSink

#: The plugin API versions this plugin works with (checked by the hub at load).
RETURNHUB_API = ">=1.0,<2"


@hookimpl
def returnhub_register_connectors(register):  # noqa: ANN001, ANN201
    """Register the ``file`` sink type."""
    register(FileSink)
