"""What a promotional message needs before and after rendering (docs/consent.md).

Before: marketing consent on its channel (none: ``skipped``, never sent) and the customer's
quiet hours (inside them: held until they end, like a retry that costs no attempt).
After: the RFC 8058 one-click unsubscribe headers on email. Transactional and internal messages
pass through untouched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hub import consent
from hub.categories import Category
from hub.content.unsubscribe import missing_unsubscribe_link
from hub.delivery.router import RouteResult
from hub.domain.timing import after_quiet_hours
from hub.unsubscribe_links import unsubscribe_url

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.ext.asyncio import async_sessionmaker

    from hub.config import NotificationSettings
    from hub.messages import OutboundMessage

#: RFC 8058 section 3.1: the exact value of List-Unsubscribe-Post.
ONE_CLICK = "List-Unsubscribe=One-Click"


class PromotionalPolicy:
    """Consent, quiet hours and unsubscribe headers for promotional messages."""

    def __init__(self, sessionmaker: async_sessionmaker, settings: NotificationSettings,
                 portal_key: bytes, public_url: str) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.portal_key = portal_key
        self.public_url = public_url

    @staticmethod
    def applies(notification: object) -> bool:
        """Whether ``notification`` is promotional."""
        return getattr(notification, "category", None) == Category.PROMOTIONAL

    async def hold(self, notification: object, customer: object | None, now: datetime
                   ) -> RouteResult | None:
        """Why a promotional message must not go out now, or None when it may."""
        if customer is None:
            return RouteResult(status="skipped", error="no customer record to hold consent")
        async with self.sessionmaker() as session:
            state = await consent.current(session, customer.id, notification.channel)
        if not state.granted:
            return RouteResult(status="skipped",
                               error=f"no marketing consent on {notification.channel}")
        release = after_quiet_hours(now, self.settings.quiet_hours, customer.timezone,
                                    self.settings.default_timezone)
        if release > now:
            return RouteResult(status="retry", error="held for the customer's quiet hours",
                               retry_after=(release - now).total_seconds())
        return None

    def unsubscribe_url(self, notification: object, customer: object | None) -> str | None:
        """The one-click link of a promotional message (None for any other)."""
        if not self.applies(notification) or customer is None:
            return None
        return unsubscribe_url(self.public_url, self.portal_key, customer.id,
                               notification.channel)

    def decorate(self, message: OutboundMessage, link: str | None) -> None:
        """Mark the message's category; add the RFC 8058 headers to a promotional email.
        Raises ValueError for a promotional email whose parts do not show ``link`` (its
        template is broken: it is not sent)."""
        if link is None:
            return
        message.category = Category.PROMOTIONAL.value
        if message.channel == "email":
            missing = missing_unsubscribe_link(message.text, message.html, link)
            if missing:
                raise ValueError(missing)
            message.headers["List-Unsubscribe"] = f"<{link}>"
            message.headers["List-Unsubscribe-Post"] = ONE_CLICK
