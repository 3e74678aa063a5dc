"""Moved: the upstream action runner does I/O, so it lives in
:mod:`hub.processing.upstream_actions` (hub/rules is pure domain). This name stays only until
hub/runtime.py imports from there; delete it then."""

from hub.processing.upstream_actions import ActionRunner

__all__ = ["ActionRunner"]
