"""Locale-aware formatting of money and dates for templates (Babel)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from babel.core import UnknownLocaleError
from babel.dates import format_date as babel_format_date
from babel.numbers import format_currency


def _locale(locale: str | None) -> str:
    return (locale or "en").replace("-", "_")


def format_money(amount: Decimal | float | str | None, currency: str | None,
                 locale: str | None = None) -> str:
    """``format_money(12.5, "EUR", "de-DE")`` → ``12,50 €``; empty for no amount."""
    if amount is None or not currency:
        return ""
    try:
        return format_currency(Decimal(str(amount)), currency, locale=_locale(locale))
    except (UnknownLocaleError, ValueError):
        return f"{currency} {Decimal(str(amount)):.2f}"


def format_date(value: date | datetime | None, locale: str | None = None,
                fmt: str = "medium") -> str:
    """A date in the customer's locale; empty for None."""
    if value is None:
        return ""
    try:
        return babel_format_date(value, format=fmt, locale=_locale(locale))
    except (UnknownLocaleError, ValueError):
        return value.strftime("%Y-%m-%d")
