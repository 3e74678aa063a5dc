"""Short, value-free log lines for requests aiohttp could not parse.

aiohttp logs a malformed request (bad request line, bad or oversized header) on the
``aiohttp.server`` logger with the parser's exception, whose message quotes the offending bytes:
a header value of several kilobytes, a bearer token or an API key among them, ends up in the
log in full. :class:`BadRequestLogFilter` rewrites such a record before any handler sees it:
the exception's class, the status and the parser's reason (its words only, never the quoted
bytes), at most :data:`MAX_REASON` characters, no traceback, and at WARNING, not ERROR: the
fault is the client's.
"""

from __future__ import annotations

import logging
import re

from aiohttp.http_exceptions import HttpProcessingError

#: The longest reason logged.
MAX_REASON = 120
#: The event of a rewritten record.
EVENT = "bad_request_refused"
#: The logger aiohttp's server writes to.
SERVER_LOGGER = "aiohttp.server"

# The parser's reason ends where it starts quoting the request: at a colon, a quote or the
# repr of a bytes object.
_QUOTE = re.compile(r"""[:'"\n]|\bb'|\bbytearray\(""")


def reason_of(exc: HttpProcessingError) -> str:
    """The parser's reason without the bytes it quotes."""
    return _QUOTE.split(exc.message or "", maxsplit=1)[0].strip()[:MAX_REASON]


class BadRequestLogFilter(logging.Filter):
    """Rewrite records about unparseable requests (see the module docstring)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Always keep the record; shorten it when it carries a parser error."""
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            remote = record.args[0] if isinstance(record.args, tuple) and record.args else None
            record.msg, record.args = EVENT, ()
            record.exc_info, record.exc_text, record.stack_info = None, None, None
            record.error = type(exc).__name__
            record.status = exc.code
            record.reason = reason_of(exc)
            record.remote = str(remote)[:64] if remote is not None else None
            if record.levelno > logging.WARNING:  # the client's mistake, not the hub's
                record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def install_bad_request_filter() -> None:
    """Add the filter to aiohttp's server logger (once)."""
    logger = logging.getLogger(SERVER_LOGGER)
    if not any(isinstance(f, BadRequestLogFilter) for f in logger.filters):
        logger.addFilter(BadRequestLogFilter())
