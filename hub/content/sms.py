"""How many SMS segments a text costs, and the clean-up every rendered SMS gets.

A text that fits the GSM 03.38 alphabet is sent as GSM-7: 160 septets in one segment, 153 per
segment once it is split (the rest carries the concatenation header); ``^ { } [ ] ~ | € \\``
and form feed take two septets and never straddle two segments. Anything else is sent as
UCS-2: 70 UTF-16 units alone, 67 per segment when split, a surrogate pair kept whole.

One stray character outside the GSM alphabet (a no-break space from a locale's money format,
a curly quote) turns a whole text into UCS-2 and can triple its cost, so :func:`normalize_sms`
replaces typographic characters with their GSM equivalents before a text is counted or sent.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The GSM 03.38 basic character set (one septet each; the escape code itself excluded).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
#: The extension table: each costs an escape plus the character (two septets).
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")

GSM7 = "GSM-7"
UCS2 = "UCS-2"
_LIMITS = {GSM7: (160, 153), UCS2: (70, 67)}

#: Typographic characters a locale or a template may produce, and their GSM-7 stand-ins.
_TYPOGRAPHY = str.maketrans({
    "\u00a0": " ", "\u202f": " ", "\u2009": " ", "\u2007": " ", "\u2002": " ", "\u2003": " ",
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201c": '"', "\u201d": '"', "\u201e": '"',
    "\u00ab": '"', "\u00bb": '"', "\u2039": "'", "\u203a": "'",
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-",
    "\u2026": "...", "\u2022": "-", "\u00b7": "-",
    "\u200b": None, "\u200c": None, "\u200d": None, "\u2060": None, "\ufeff": None,
})


@dataclass(frozen=True, slots=True)
class SegmentCount:
    """The cost of one SMS text."""

    segments: int
    #: ``"GSM-7"`` or ``"UCS-2"``.
    encoding: str
    #: Septets (GSM-7) or UTF-16 code units (UCS-2) in the whole text.
    units: int

    def __str__(self) -> str:
        return f"segments={self.segments} encoding={self.encoding}"


def encoding_of(text: str) -> str:
    """``"GSM-7"`` when every character is in the GSM alphabet, else ``"UCS-2"``."""
    return GSM7 if all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text) else UCS2


def _unit_costs(text: str, encoding: str) -> list[int]:
    if encoding == GSM7:
        return [2 if ch in GSM7_EXTENDED else 1 for ch in text]
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def count_segments(text: str) -> SegmentCount:
    """Segments, encoding and units of ``text`` (an empty text is zero segments)."""
    encoding = encoding_of(text)
    costs = _unit_costs(text, encoding)
    units = sum(costs)
    single, multi = _LIMITS[encoding]
    if units == 0:
        return SegmentCount(0, encoding, 0)
    if units <= single:
        return SegmentCount(1, encoding, units)
    segments, used = 1, 0
    for cost in costs:
        if used + cost > multi:  # a two-unit character never straddles segments
            segments, used = segments + 1, 0
        used += cost
    return SegmentCount(segments, encoding, units)


def normalize_sms(text: str) -> str:
    """The text as it is sent: GSM stand-ins for typographic characters, spaces collapsed on
    each line, blank lines and surrounding whitespace dropped."""
    text = text.translate(_TYPOGRAPHY)
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)
