"""Locale-aware formatting of money, dates and numbers for templates (Babel).

Every function takes a BCP 47 or POSIX locale (``de-DE``, ``fr_CA``), falls back to a plain
format when Babel does not know the locale, and returns ``""`` for a missing value, so a
template never prints ``None``.
"""

from __future__ import annotations

import functools
from datetime import date, datetime, tzinfo
from decimal import Decimal, InvalidOperation

from babel.core import Locale, UnknownLocaleError
from babel.dates import format_date as babel_format_date
from babel.numbers import format_currency, format_decimal


@functools.lru_cache(maxsize=512)
def _locale(locale: str | None) -> Locale:
    """The parsed Babel locale (parsing costs more than formatting; locales come from
    customer data, hence the bounded cache); a language in a region Babel has no data for
    (``fr-DE``, ``de-US``) is formatted as its language (``fr``: ``1 234,50 €``), as the
    templates fall back to the language's set. Raises UnknownLocaleError or ValueError."""
    tag = (locale or "en").replace("-", "_")
    try:
        return Locale.parse(tag)
    except UnknownLocaleError:
        language = tag.split("_")[0]
        if language == tag:
            raise
        return Locale.parse(language)


def _decimal(amount: Decimal | float | int | str) -> Decimal | None:
    try:
        return Decimal(str(amount))
    except (InvalidOperation, ValueError):
        return None


def format_money(amount: Decimal | float | str | None, currency: str | None,
                 locale: str | None = None) -> str:
    """``format_money(12.5, "EUR", "de-DE")`` → ``12,50 €``; empty for no amount."""
    if amount is None or not currency:
        return ""
    value = _decimal(amount)
    if value is None:
        return ""
    return _money(str(value), currency, locale)


@functools.lru_cache(maxsize=1024)
def _money(value: str, currency: str, locale: str | None) -> str:
    """Cached: a message formats the same amount in its HTML and its text part."""
    number = Decimal(value)
    try:
        return format_currency(number, currency, locale=_locale(locale))
    except (UnknownLocaleError, ValueError):
        return f"{currency} {number:.2f}"


def as_date(value: date | datetime | str | None) -> date | datetime | None:
    """A date from a date, a datetime or an ISO 8601 string (as stored in JSON); None when it
    is none of these."""
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def format_date(value: date | datetime | str | None, locale: str | None = None,
                fmt: str = "medium", zone: tzinfo | None = None) -> str:
    """A date in the customer's locale (``fmt``: short, medium, long, full or a Babel
    pattern); empty for None. A time with an offset is the day it is in ``zone`` (the
    customer's): a drop-off closing at 05:00 UTC closes the evening before in Los Angeles."""
    when = as_date(value)
    if when is None:
        return ""
    if zone is not None and isinstance(when, datetime) and when.tzinfo is not None:
        when = when.astimezone(zone)
    return _day(when.date() if isinstance(when, datetime) else when, fmt, locale)


@functools.lru_cache(maxsize=1024)
def _day(day: date, fmt: str, locale: str | None) -> str:
    """Cached: the days a message names (its drop-off deadline, its estimated delivery) are
    the few days around now, shared by the HTML and text parts and by the day's messages."""
    try:
        return babel_format_date(day, format=fmt, locale=_locale(locale))
    except (UnknownLocaleError, ValueError):
        return day.strftime("%Y-%m-%d")


def format_number(value: Decimal | float | int | str | None, locale: str | None = None) -> str:
    """A number with the locale's separators (``1234.5`` → ``1.234,5`` in German)."""
    if value is None:
        return ""
    number = _decimal(value)
    if number is None:
        return ""
    try:
        return format_decimal(number, locale=_locale(locale))
    except (UnknownLocaleError, ValueError):
        return str(number)
