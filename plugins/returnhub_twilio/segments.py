"""How many SMS segments a text costs, for the sink's send result and for template previews.

A text that fits the GSM 03.38 alphabet is sent as GSM-7: 160 septets in one segment, 153 per
segment once it is split (the rest carries the concatenation header); ``^ { } [ ] ~ | € \\``
and form feed take two septets and never straddle two segments. Anything else is sent as
UCS-2: 70 UTF-16 units alone, 67 per segment when split, a surrogate pair kept whole.
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
