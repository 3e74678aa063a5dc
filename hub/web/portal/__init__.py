"""The customer portal: a return's page behind a signed, expiring link, with live updates."""

from __future__ import annotations

from hub.web.portal.views import POLL_SECONDS, setup_portal

__all__ = ["POLL_SECONDS", "setup_portal"]
