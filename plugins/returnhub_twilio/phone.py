"""Phone numbers as Twilio wants them: E.164."""

from __future__ import annotations

import phonenumbers


def to_e164(raw: str, default_region: str) -> str:
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
