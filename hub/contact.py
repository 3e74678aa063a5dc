"""The one rule for what counts as an email address or a phone number.

Ingress refuses an event whose customer contact breaks these rules (answered 422 naming the
field), the applier never lets such a value overwrite a stored contact, and the email and SMS
sinks check recipients with the same functions.
"""

from __future__ import annotations

import functools
import re

import phonenumbers

#: A bare address with a dotted domain (no display name, no list, no whitespace or line break).
EMAIL_ADDRESS = re.compile(r"[^@\s<>(),;:\"]+@[^@\s<>(),;:\"]+\.[^@\s<>(),;:\".]+")
#: RFC 5321's limit on a path (an address in MAIL FROM / RCPT TO).
MAX_EMAIL_CHARS = 254
#: What a phone number may be written with: digits, a leading +, the usual separators.
_PHONE_CHARS = re.compile(r"\+?[0-9 ()./-]+")
#: E.164 numbers have at most 15 digits; no numbering plan has fewer than 4.
_PHONE_DIGITS = (4, 15)
#: Numbers whose reading is kept: ingress and the applier read each event's number, and a
#: sink each message's; parsing one costs more than the rest of its checks together.
_PHONES_KEPT = 4096


def is_email(value: str) -> bool:
    """Whether ``value`` is one bare email address (what every email sink can send to)."""
    return email_problem(value) is None


def email_problem(value: str) -> str | None:
    """Why ``value`` is not an email address, naming no part of it; None when it is one."""
    if len(value) > MAX_EMAIL_CHARS:
        return f"is longer than {MAX_EMAIL_CHARS} characters"
    if not EMAIL_ADDRESS.fullmatch(value):
        return "is not an email address (one bare address, no line break)"
    return None


@functools.lru_cache(maxsize=_PHONES_KEPT)
def to_e164(raw: str, default_region: str | None) -> str:
    """``raw`` in E.164 (``+14155550100``); national numbers are read in ``default_region``.

    Raises ValueError (naming no digits) when it is not a valid number.
    """
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException:
        raise ValueError("is not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("is not a valid phone number for its region")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@functools.lru_cache(maxsize=_PHONES_KEPT)
def phone_problem(value: str) -> str | None:
    """Why ``value`` cannot be a phone number, naming no digits; None when it can be.

    A number in international form (``+…``) must be valid as the SMS sink reads it. A
    national number is read by the sink in its configured region, which the hub does not
    know here; it must be written with phone characters only and have 4 to 15 digits."""
    text = value.strip(" ")
    if not _PHONE_CHARS.fullmatch(text):
        return "is not a phone number (digits, +, spaces, ( ) . / - only)"
    if text.startswith("+"):
        try:
            to_e164(text, None)
        except ValueError as exc:
            return str(exc)
        return None
    digits = sum(ch.isdigit() for ch in text)
    if not _PHONE_DIGITS[0] <= digits <= _PHONE_DIGITS[1]:
        return f"is not a phone number ({_PHONE_DIGITS[0]} to {_PHONE_DIGITS[1]} digits)"
    return None
