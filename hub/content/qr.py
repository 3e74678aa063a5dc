"""QR codes for drop-off codes and return labels, inlined into HTML email.

What the QR encodes (the context's ``qr.payload``):

1. the drop-off code a source gives (``dropoff.code``, e.g. a Happy Returns or carrier
   QR code the counter scans), else
2. the label URL (``return.label_url``): scanned at the counter or on another device to print.

The image is a PNG ``data:`` URI (``qr.image``, email only), which Apple Mail, iOS Mail and
Outlook.com show; Gmail does not show ``data:`` images, so templates always print the code or
link beside it (``qr.link``, also used in SMS).
"""

from __future__ import annotations

import functools
from typing import Any

import segno

#: Width the QR image aims at, in pixels: big enough to scan from a phone at a counter.
TARGET_PX = 180
#: Fewest pixels per module (long payloads have many modules).
MIN_SCALE = 3
#: Quiet zone, in modules (the standard asks for 4; 2 is enough on a white email body).
BORDER = 2
#: Longest payload encoded (a longer "code" is not a code).
MAX_PAYLOAD = 1024


@functools.lru_cache(maxsize=256)
def qr_png_data_uri(payload: str) -> tuple[str, int]:
    """A PNG ``data:`` URI of ``payload`` as a QR code (error correction M), and its width
    (= height) in pixels. Cached: a return's approval and label emails share their code, and
    choosing the mask is most of the ~10 ms this takes."""
    code = segno.make(payload, error="m", micro=False)
    modules, _ = code.symbol_size(scale=1, border=BORDER)
    scale = max(MIN_SCALE, round(TARGET_PX / modules))
    width, _height = code.symbol_size(scale=scale, border=BORDER)
    return (code.png_data_uri(scale=scale, border=BORDER, dark="#000000", light="#ffffff"),
            int(width))


class QrImage:
    """``qr.image``: the PNG data URI, made the first time a template prints it (most emails
    of a return that has a label never show its QR code). ``qr.image.size`` is its width."""

    __slots__ = ("payload",)

    def __init__(self, payload: str) -> None:
        self.payload = payload

    @property
    def size(self) -> int:
        """Width (= height) in pixels."""
        return qr_png_data_uri(self.payload)[1]

    def __str__(self) -> str:
        return qr_png_data_uri(self.payload)[0]

    def __html__(self) -> str:
        return str(self)  # a data URI has nothing to escape

    def __bool__(self) -> bool:
        return True

    def __eq__(self, other: object) -> bool:
        return str(self) == str(other) if isinstance(other, QrImage | str) else NotImplemented

    def __hash__(self) -> int:
        return hash(self.payload)


class QrSize:
    """``qr.size``: the image's width, computed only when printed."""

    __slots__ = ("image",)

    def __init__(self, image: QrImage) -> None:
        self.image = image

    def __str__(self) -> str:
        return str(self.image.size)

    def __int__(self) -> int:
        return self.image.size


def qr_context(*, dropoff_code: str | None, dropoff_url: str | None, label_url: str | None,
               portal_url: str | None, with_image: bool) -> dict[str, Any] | None:
    """The ``qr`` context value: ``kind`` (``"dropoff"`` or ``"label"``), ``payload``,
    ``link`` (what an SMS or a text part shows), ``image`` (the data URI, made when printed;
    email only) and ``size`` (its width in pixels); None when there is neither a drop-off
    code nor a label."""
    if dropoff_code and len(dropoff_code) <= MAX_PAYLOAD:
        kind, payload = "dropoff", dropoff_code
        link = dropoff_url or label_url or portal_url
    elif label_url and len(label_url) <= MAX_PAYLOAD:
        kind, payload, link = "label", label_url, label_url
    else:
        return None
    image = QrImage(payload) if with_image else None
    return {"kind": kind, "payload": payload, "link": link, "image": image,
            "size": QrSize(image) if image else None}
