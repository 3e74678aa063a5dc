"""Message categories: what a notification is for decides its consent, routing and timing."""

from __future__ import annotations

from enum import StrEnum


class Category(StrEnum):
    """Why a message is sent.

    ``transactional``: about the customer's own return (the default; no marketing consent
    needed). ``promotional``: offers and campaigns (marketing consent per channel, one-click
    unsubscribe, the brand's postal address, quiet hours). ``internal``: to the team or IT.
    """

    TRANSACTIONAL = "transactional"
    PROMOTIONAL = "promotional"
    INTERNAL = "internal"


CATEGORIES: tuple[str, ...] = tuple(category.value for category in Category)

#: The stage name campaign messages carry (no stage settings: no fallback, no coalescing).
CAMPAIGN_STAGE = "campaign"
#: Where campaign templates live: ``campaigns/<name>/``.
CAMPAIGNS_FOLDER = "campaigns"
