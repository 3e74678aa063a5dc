"""The filters every template has: ``money``, ``date``, ``number`` (Babel, in the locale of
the message unless one is given) and ``one_line``.

``{{ return.refund_amount|money(return.currency) }}`` → ``$29.00`` / ``29,00 €``;
``{{ tracking.estimated_delivery|date("long") }}`` → ``November 28, 2026`` / ``28. November
2026``; the locale of the message is used unless one is passed (``money(cur, "de-DE")``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jinja2 import pass_context

from hub.content.text import one_line
from hub.domain.timing import customer_zone
from hub.formatting import format_date, format_money, format_number


def _locale(context: Any, locale: str | None) -> str | None:
    return locale or context.get("locale")


@pass_context
def money(context: Any, amount: Any, currency: str | None = None,
          locale: str | None = None) -> str:
    """Format an amount in ``currency`` (ISO 4217) for the message's locale."""
    return format_money(amount, currency, _locale(context, locale))


#: Babel's named date formats; ``|date("long")`` passes one instead of a locale.
_DATE_FORMATS = frozenset({"short", "medium", "long", "full"})


@pass_context
def date(context: Any, value: Any, locale: str | None = None, fmt: str = "medium") -> str:
    """Format a date (or datetime, or ISO string) for the message's locale:
    ``|date``, ``|date("long")``, ``|date("de-DE")`` or ``|date("de-DE", "long")``."""
    if locale in _DATE_FORMATS:
        fmt, locale = str(locale), None
    zone = context.get("timezone")
    return format_date(value, _locale(context, locale), fmt,
                       customer_zone(zone, "UTC") if zone else None)


@pass_context
def number(context: Any, value: Any, locale: str | None = None) -> str:
    """Format a number with the separators of the message's locale."""
    return format_number(value, _locale(context, locale))


# What each reads of the render context, for hub.content.modules (a filter given the context
# that says nothing keeps the templates using it from being shared within a message).
for _reads_locale in (money, number):
    _reads_locale.context_reads = frozenset({"locale"})  # type: ignore[attr-defined]
date.context_reads = frozenset({"locale", "timezone"})  # type: ignore[attr-defined]

#: Filters installed in every template environment.
FILTERS: dict[str, Callable[..., Any]] = {
    "money": money, "date": date, "number": number, "one_line": one_line}
