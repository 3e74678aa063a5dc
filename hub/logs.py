"""structlog set-up: JSON in production, readable in a terminal, PII never in clear.

Redaction happens in the processor chain, after exceptions are formatted, so it also covers
tracebacks; tracebacks never include frame locals (structlog's dict tracebacks would otherwise
print every local variable, customer data included).
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog
from pydantic import BaseModel, SecretStr

#: Keys whose values are customer data or secrets, whatever they contain.
SENSITIVE_KEYS = frozenset({
    "email", "phone", "name", "to", "recipient", "address", "customer", "first_name",
    "last_name", "api_key", "secret", "token", "password", "authorization", "body", "payload",
    "cookie", "auth",
})
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
# Eight or more digits, optionally led by "+" and split by spaces, dashes or parentheses; dots
# are no separator so that IP addresses and versions stay readable.
_PHONE = re.compile(r"(?<![\w.+(])[+(]?\d(?:[ \-()]{0,2}\d){7,14}(?![\w.])")
REDACTED = "[redacted]"
#: Keys named as secrets are, whatever comes before (``webhook_secret``, ``X-Api-Key``).
_SECRET_KEY = re.compile(
    r"(secret|token|password|passwd|api[_-]?key|authorization|credentials?|private[_-]?key)$")
#: The configured secrets (every ``SecretStr`` of the connectors' settings and the hub's own),
#: masked wherever they appear in a logged string: a plugin that logs its own key, or an
#: error text that quotes it, prints ``[redacted]``.
_SECRETS: dict[str, None] = {}
#: Shorter values are not masked (they would mask ordinary words).
_SHORTEST_SECRET = 6
#: The most remembered (the latest kept): a process builds one hub, a test process hundreds.
_MOST_SECRETS = 256


def mask_secrets_of(value: Any) -> None:
    """Remember every :class:`~pydantic.SecretStr` in a settings model (nested models, lists
    and dicts too), so that logs never print it."""
    if isinstance(value, SecretStr):
        secret = value.get_secret_value()
        if len(secret) >= _SHORTEST_SECRET:
            _SECRETS.pop(secret, None)
            _SECRETS[secret] = None
            if len(_SECRETS) > _MOST_SECRETS:
                del _SECRETS[next(iter(_SECRETS))]
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            mask_secrets_of(getattr(value, name, None))
    elif isinstance(value, dict):
        for inner in value.values():
            mask_secrets_of(inner)
    elif isinstance(value, (list, tuple)):
        for inner in value:
            mask_secrets_of(inner)


def redact_text(text: str) -> str:
    """Mask email addresses, phone numbers and configured secrets inside free text."""
    for secret in tuple(_SECRETS):  # a copy: a hub being built may add one meanwhile
        if secret in text:
            text = text.replace(secret, REDACTED)
    return _PHONE.sub("[phone]", _EMAIL.sub("[email]", text))


def _redact_value(key: str, value: Any) -> Any:
    lowered = key.lower()
    if value is not None and (lowered in SENSITIVE_KEYS or _SECRET_KEY.search(lowered)):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact_value(key, v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    # Anything else (an exception, a URL) is written as its repr: filtered the same way.
    return redact_text(repr(value))


def redact_pii(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: mask sensitive keys and any email or phone in string values."""
    return {key: (_redact_value(key, value) if key not in ("timestamp", "level") else value)
            for key, value in event_dict.items()}


def configure_logging(fmt: str = "auto", level: str = "INFO") -> None:
    """Configure structlog and route stdlib logging (aiohttp, SQLAlchemy) through it."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        # Plain text tracebacks: no frame locals, so no customer data from the stack.
        structlog.processors.format_exc_info,
        redact_pii,
    ]
    renderer: Any = (structlog.processors.JSONRenderer() if use_json
                     else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()))
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level)),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared[:-2] + [structlog.stdlib.ExtraAdder()],
        processors=[structlog.processors.format_exc_info, redact_pii,
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level))
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # aiosqlite logs every statement with its parameters at DEBUG: encrypted values today, but
    # any plain-text column would land in the log.
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)


def get_logger(name: str | None = None, **bound: Any) -> structlog.typing.FilteringBoundLogger:
    """A logger with ``bound`` values attached."""
    return structlog.get_logger(name).bind(**bound) if bound else structlog.get_logger(name)
