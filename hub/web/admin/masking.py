"""Masked contact details for admin views: enough to recognise, not to read."""

from __future__ import annotations


def mask_email(address: str | None) -> str | None:
    """``jane.doe@example.com`` → ``j***@example.com``."""
    if not address:
        return None
    local, at, domain = address.partition("@")
    if not at:
        return mask_other(address)
    return f"{local[:1]}***@{domain}"


def mask_phone(number: str | None) -> str | None:
    """``+14155550100`` → ``+1******0100`` (the last four digits stay)."""
    if not number:
        return None
    keep = number[-4:]
    head = number[:2] if number.startswith("+") else ""
    return f"{head}{'*' * max(len(number) - len(head) - 4, 3)}{keep}"


def mask_other(value: str | None) -> str | None:
    """Any other recipient (a customer key): its first three characters."""
    if not value:
        return None
    return f"{value[:3]}***"


def mask_recipient(channel: str, value: str | None) -> str | None:
    """Mask an address for its channel."""
    if channel == "email":
        return mask_email(value)
    if channel == "sms":
        return mask_phone(value)
    return mask_other(value)
