"""SMS segment counting, re-exported from :mod:`hub.content.sms` where it now lives (the core
needs it for template checks and must not import a plugin)."""

from __future__ import annotations

from hub.contract import (
    GSM7,
    GSM7_BASIC,
    GSM7_EXTENDED,
    UCS2,
    SegmentCount,
    count_segments,
    encoding_of,
)

__all__ = ["GSM7", "GSM7_BASIC", "GSM7_EXTENDED", "UCS2", "SegmentCount", "count_segments",
           "encoding_of"]
