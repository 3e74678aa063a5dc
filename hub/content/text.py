"""Text hygiene for values that reach a message: customer-supplied text, URLs, header lines."""

from __future__ import annotations

import re

#: What no notification keeps: bidirectional controls (CVE-2021-42574 style spoofing:
#: ``RMA-1\u202eexe.pdf``), other invisible format characters, and the C0/C1 control
#: characters except tab and newline. One character class: a single pass in C, where a
#: ``str.translate`` table looked up every character in Python.
_UNWANTED = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b\u2060\ufeff"
                       "\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SAFE_COLOR = re.compile(r"#[0-9a-fA-F]{3,8}|[a-zA-Z]{3,20}|rgb\(\s*\d{1,3}\s*,\s*\d{1,3}\s*,"
                         r"\s*\d{1,3}\s*\)")


def clean_text(value: object) -> str | None:
    """A string without bidi/format controls or control characters (None stays None)."""
    if value is None:
        return None
    return _UNWANTED.sub("", str(value))


def one_line(value: str | None) -> str:
    """All whitespace runs, CR and LF included (and U+2028/U+0085), collapsed to one space:
    what a header value (a subject, a display name) must be."""
    return " ".join((clean_text(value) or "").split())


def safe_url(value: object) -> str | None:
    """``value`` when it is an http(s) URL without whitespace, else None: a ``javascript:`` or
    ``data:`` link from a source never reaches an ``href``."""
    if not isinstance(value, str):
        return None
    url = value.strip()
    if not re.match(r"https?://[^\s/$.?#][^\s]*\Z", url, flags=re.IGNORECASE):
        return None
    return url


def safe_color(value: str | None, default: str) -> str:
    """A CSS colour that cannot break out of a ``style`` value, else ``default``."""
    if value and _SAFE_COLOR.fullmatch(value.strip()):
        return value.strip()
    return default
