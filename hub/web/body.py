"""Reading a request body to its end, bounded: the one reader every route that reads a body uses.

aiohttp's ``request.content.read(n)`` returns only what is buffered so far, so a body that
arrives in more than one TCP read (a slow client, chunked transfer encoding, a large body) would
be cut short. :func:`read_body` reads until the end of the body and stops as soon as more than
``limit`` bytes have arrived, whether the client announced a ``Content-Length`` or sent the body
chunked; :class:`BodyTooLarge` is answered 413 as a JSON error (:mod:`hub.web.errors`).
The body is kept on the request, so a second reader (the CSRF check, then the handler) gets the
same bytes without touching the stream again.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from multidict import MultiDict

#: The largest form (dashboard sign-in, CSRF-checked buttons) any route reads.
FORM_MAX_BYTES = 64 * 1024
#: The media type of an HTML form.
FORM_TYPE = "application/x-www-form-urlencoded"

_RequestKey = getattr(web, "RequestKey", None)
# Typed request keys where aiohttp has them (3.13+), a plain string before.
_BODY: Any = _RequestKey("returnhub.body", bytes) if _RequestKey is not None else "returnhub.body"


class BodyTooLarge(Exception):
    """The body is larger than ``limit`` bytes (answered 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the body exceeds {limit} bytes")
        self.limit = limit


class BadForm(Exception):
    """A form body that is not UTF-8 (answered 400)."""


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole body of ``request``; raises :class:`BodyTooLarge` once more than ``limit``
    bytes are announced or have arrived (nothing more is read then)."""
    body = request.get(_BODY)
    if body is None:
        if request.content_length is not None and request.content_length > limit:
            raise BodyTooLarge(limit)
        buffer = bytearray()
        while chunk := await request.content.readany():
            buffer += chunk
            if len(buffer) > limit:
                raise BodyTooLarge(limit)
        body = request[_BODY] = bytes(buffer)
    if len(body) > limit:
        raise BodyTooLarge(limit)
    return body


def parse_form(body: bytes) -> list[tuple[str, str]]:
    """The (name, value) pairs of a URL-encoded form body, in order; raises :class:`BadForm`
    if it is not UTF-8."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadForm("the form body is not UTF-8") from None
    return parse_qsl(text, keep_blank_values=True, strict_parsing=False)


async def read_form(request: web.Request, limit: int = FORM_MAX_BYTES) -> MultiDict[str]:
    """The fields of a URL-encoded form (empty for any other content type), read with
    :func:`read_body`."""
    if request.content_type != FORM_TYPE:
        return MultiDict()
    return MultiDict(parse_form(await read_body(request, limit)))
