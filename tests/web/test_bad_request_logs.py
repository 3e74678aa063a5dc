"""Malformed requests over a raw socket: aiohttp's log of them is short and quotes no header
value (a header can carry a token or customer data)."""

from __future__ import annotations

import logging

import pytest
from aiohttp import web

from hub.testing.rawhttp import send_bytes
from hub.web.app import create_app
from hub.web.serverlog import EVENT, SERVER_LOGGER

SECRET = "SECRET-token-4f1c"
GOOD = b"GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n"
#: Standard LogRecord attributes; anything else is an extra a formatter writes too.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

MALFORMED = {
    "60 KB header value": b"GET / HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer " +
                          SECRET.encode() + b"x" * 60_000 + b"\r\n\r\n",
    "8 KB header with a control character": b"GET / HTTP/1.1\r\nHost: hub\r\nX-Api-Key: " +
                                            SECRET.encode() + b"y" * 8_000 + b"\x01\r\n\r\n",
    "60 KB bad request line": b"G\x01T /" + SECRET.encode() + b"z" * 60_000 +
                              b" HTTP/1.1\r\nHost: hub\r\n\r\n",
    "60 KB bad request line after a good request": GOOD + b"G\x01T /" + SECRET.encode() +
                                                   b"z" * 60_000 + b" HTTP/1.1\r\n\r\n",
    "bad content length": b"POST / HTTP/1.1\r\nHost: hub\r\nContent-Length: " +
                          SECRET.encode() + b"\r\n\r\n",
}


class Collect(logging.Handler):
    """Every record aiohttp's server logger lets through, as a formatter would write it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[tuple[logging.LogRecord, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        extras = {k: v for k, v in vars(record).items() if k not in _STANDARD}
        self.lines.append((record, logging.Formatter().format(record) + " " + repr(extras)))


@pytest.fixture
async def port(hub):
    runner = web.AppRunner(create_app(hub), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


@pytest.fixture
def collected():
    logger = logging.getLogger(SERVER_LOGGER)
    handler, level = Collect(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)  # the first request's bad method is logged at DEBUG
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_a_malformed_request_is_logged_short_and_without_header_values(port, collected,
                                                                            case):
    response = await send_bytes("127.0.0.1", port, MALFORMED[case])
    assert response is not None and response.status in (200, 400)  # 200: the good one first
    refused = [(r, line) for r, line in collected if r.getMessage() == EVENT]
    assert len(refused) == 1, [line[:300] for _, line in collected]
    for record, line in collected:
        assert len(line) <= 500, line[:600]
        assert SECRET not in line
        assert record.exc_info is None
    record = refused[0][0]
    assert record.status == 400
    assert record.levelno <= logging.WARNING
    assert record.error in ("LineTooLong", "BadHttpMessage", "BadHttpMethod",
                            "InvalidHeader", "BadStatusLine")
    assert record.reason and SECRET not in record.reason
