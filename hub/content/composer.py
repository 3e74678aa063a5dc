"""Composing a notification into the message a sink sends: brand, context, templates, sender.

The :class:`Composer` is pure rendering: it reads the rows it is given (ORM entities or the
dispatcher's snapshots) and decrypts them with the codec it was built with; it never touches
the database. The dispatcher composes every message it sends with it, and ``returnhub
simulate`` shows what it composes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from hub.content.brand import brand_for
from hub.content.context import build_context
from hub.content.sms import count_segments
from hub.content.text import one_line
from hub.logs import get_logger
from hub.messages import OutboundMessage

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from hub.config import BrandSettings, NotificationSettings
    from hub.content.context import Codec
    from hub.templates import RenderedMessage

log = get_logger("hub.composer")


class Renderer(Protocol):
    """Renders a template for a channel (:class:`hub.templates.TemplateRenderer`, or the live
    library that holds the current one)."""

    def render(self, template: str, channel: str, context: dict[str, Any]) -> RenderedMessage:
        """The rendered message; raises :class:`hub.templates.TemplateRenderError`."""


class Promotional(Protocol):
    """The unsubscribe link and headers of promotional messages
    (:class:`hub.delivery.promotional.PromotionalPolicy`)."""

    def unsubscribe_url(self, notification: Any, customer: Any | None) -> str | None:
        """The one-click link of a promotional message (None for any other)."""

    def decorate(self, message: OutboundMessage, link: str | None) -> None:
        """Mark a promotional message and add its unsubscribe headers."""


class Composer:
    """Renders a claimed notification (``notification``, ``ret``, ``customer``) into an
    :class:`~hub.messages.OutboundMessage` in the brand of the return's store (the default
    brand merged with ``notifications.brands[<source>]``)."""

    def __init__(self, renderer: Renderer, settings: NotificationSettings, codec: Codec,
                 *, brand: BrandSettings | None = None,
                 portal_link: Callable[[str, str, datetime], str] | None = None,
                 promotional: Promotional | None = None) -> None:
        self.renderer = renderer
        self.settings = settings
        self.codec = codec
        self.brand = brand or settings.brand
        #: Builds the customer's signed portal link for (source, return reference, issued at).
        self.portal_link = portal_link
        #: The unsubscribe link and headers of promotional messages.
        self.promotional = promotional
        #: Merged brands and their template values by source: brands are configuration, fixed
        #: for the process's life.
        self._brands: dict[str | None, tuple[BrandSettings, dict[str, Any]]] = {}

    def brand_of(self, source: str | None) -> tuple[BrandSettings, dict[str, Any]]:
        """The merged brand of ``source`` and its values as templates see them (cached)."""
        found = self._brands.get(source)
        if found is None:
            brand = brand_for(self.brand, self.settings.brands, source)
            found = self._brands[source] = (brand, brand.model_dump())
        return found

    def compose(self, item: Any) -> OutboundMessage:
        """The message for a claimed notification; raises
        :class:`hub.templates.TemplateRenderError`, or ValueError for content no sink can
        send."""
        notification, ret, customer = item.notification, item.ret, item.customer
        held = getattr(item, "plaintexts", None)
        # Handed over by the process that encrypted them: nothing to decrypt.
        codec = self.codec.holding(held) if held else self.codec
        brand, brand_values = self.brand_of(ret.source)
        link = (self.portal_link(ret.source, ret.external_id, notification.created_at)
                if self.portal_link else None)
        unsubscribe = (self.promotional.unsubscribe_url(notification, customer)
                       if self.promotional else None)
        context = build_context(notification=notification, ret=ret, customer=customer,
                                brand=brand, codec=codec, portal_url=link,
                                unsubscribe_url=unsubscribe, brand_values=brand_values,
                                default_timezone=self.settings.default_timezone)
        rendered = self.renderer.render(notification.template, notification.channel, context)
        if notification.channel == "sms":
            self._warn_if_long(notification, rendered.text)
        message = OutboundMessage(
            message_id=notification.id, channel=notification.channel,
            to=codec.cipher.decrypt(notification.recipient_enc) or "",
            subject=rendered.subject, text=rendered.text, html=rendered.html,
            from_address=brand.from_email,
            from_name=one_line(brand.from_name or brand.store_name) or None,
            reply_to=brand.support_email,
            metadata={"return": ret.external_id, "stage": notification.stage},
            template=notification.template, category=notification.category)
        if self.promotional:
            self.promotional.decorate(message, unsubscribe)
        return message

    def _warn_if_long(self, notification: Any, text: str) -> None:
        cost = count_segments(text)
        limit = self.settings.sms_max_segments
        if cost.segments > limit:
            # Sent anyway (a long text beats none); `returnhub check` catches templates.
            log.warning("sms_over_segment_limit", notification_id=notification.id,
                        stage=notification.stage, segments=cost.segments,
                        encoding=cost.encoding, limit=limit)
