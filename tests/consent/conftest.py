"""Fixtures shared with the web and delivery tests: a hub with the portal, the fake providers."""

from __future__ import annotations

from tests.delivery.conftest import providers  # noqa: F401
from tests.web.conftest import portal_client, portal_hub  # noqa: F401
