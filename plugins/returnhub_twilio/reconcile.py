"""Finding a message in Twilio's message list after a send whose outcome is unknown.

Twilio's Message resource does not echo our message id (it travels only in the status
callback URL), so a message is ours when it went to the same number (from our sender) with
the same body, and was created after the hub's send intent minus :data:`CLOCK_SKEW`: the hub
sends a stage once per recipient and the text names the return and the stage. The list comes
newest first; it is read page by page (``next_page_uri``) until a page reaches messages
created before that time, so a busy number cannot push ours out of a fixed-size window.

``DateSent>`` is not used: it filters on ``date_sent``, which stays empty while Twilio still
queues a message, the very message a reconcile is looking for (and Twilio reads it as a date,
not a time).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from twilio.base import values

from hub.messages import DeliveryStatus
from returnhub_twilio.status import status_of

if TYPE_CHECKING:
    from datetime import datetime

    from twilio.rest import Client

#: Our clock and Twilio's may differ, and ``date_created`` has whole seconds.
CLOCK_SKEW = timedelta(minutes=2)
#: Messages per page read from the list (Twilio allows up to 1000).
PAGE_SIZE = 100
#: Pages read at most; a number with more messages since the intent cannot be decided.
MAX_PAGES = 20


async def find_sent(client: Client, *, to: str, sender: str | None, body: str,
                    since: datetime | None) -> DeliveryStatus | None:
    """The status of our message to ``to`` with ``body``, created after ``since`` (minus the
    skew); NOT_FOUND when the list reaches older messages without it; None when
    :data:`MAX_PAGES` pages were not enough. Twilio's errors propagate."""
    earliest = since - CLOCK_SKEW if since is not None else None
    page = await client.messages.page_async(to=to, from_=sender or values.unset,
                                            page_size=PAGE_SIZE)
    for _ in range(MAX_PAGES):
        reached_older = False
        for candidate in page:
            created = candidate.date_created
            if earliest is not None and created is not None and created < earliest:
                reached_older = True
                continue
            if candidate.body == body and (candidate.direction or "").startswith("outbound"):
                return status_of(candidate.status)
        if reached_older or not page.next_page_url:
            return DeliveryStatus.NOT_FOUND
        page = await page.next_page_async()
    return None
