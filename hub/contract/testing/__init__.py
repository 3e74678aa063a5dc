"""What a plugin's tests import: the conformance suites, the fake provider base, factories.

::

    from hub.contract.testing import FakeProvider, HttpSinkContract, outbound_message

- :class:`SinkContract` / :class:`HttpSinkContract` and :class:`SourceContract`: subclass one
  per connector; every sink and source bundled with Returnhub passes them.
- :class:`FakeProvider`: the base of a local stand-in for a provider's API, with fault knobs
  (``rate_limit_next``, ``fail_next``, ``go_silent``, ``fail_after_accept_next``, ...).
- ``outbound_message``, ``event_payload``, ``customer``, ``make_context``, ``inbound``,
  ``form_request``, ``inbound_request``, ``body_bytes``, ``free_port``, :class:`WebhookReceiver`.
- Fixtures (``http``, ``make_context``, ``receiver``): enable them with one line in a
  ``conftest.py``: ``pytest_plugins = ["hub.contract.testing.pytest_plugin"]``.

Needs the test tools (pytest, pytest-asyncio, hypothesis): ``pip install returnhub[testing]``.
"""

from __future__ import annotations

from hub.testing.factories import customer, event_payload
from hub.testing.fakes_common import FakeProvider, Faults, base_argument_parser, run_fake
from hub.testing.signing import body_bytes, inbound_request

from .sink import HOSTILE_VALUES, HttpSinkContract, SinkContract
from .source import SourceContract
from .support import (
    PUBLIC_URL,
    WebhookReceiver,
    form_request,
    free_port,
    inbound,
    make_context,
    outbound_message,
)

__all__ = [
    "HOSTILE_VALUES",
    "PUBLIC_URL",
    "FakeProvider",
    "Faults",
    "HttpSinkContract",
    "SinkContract",
    "SourceContract",
    "WebhookReceiver",
    "base_argument_parser",
    "body_bytes",
    "customer",
    "event_payload",
    "form_request",
    "free_port",
    "inbound",
    "inbound_request",
    "make_context",
    "outbound_message",
    "run_fake",
]
