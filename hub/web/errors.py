"""JSON errors: ``{"error": {"code", "message", "field"}}`` with the right status, always."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hub.logs import get_logger
from hub.web.body import BadForm, BodyTooLarge

log = get_logger("hub.web")


def error_response(status: int, code: str, message: str, *, field: str | None = None,
                   headers: dict[str, str] | None = None) -> web.Response:
    """A JSON error response."""
    body: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    return web.json_response({"error": body}, status=status, headers=headers)


def body_too_large(exc: BodyTooLarge) -> web.Response:
    """The 413 of a body over its route's limit."""
    return error_response(413, "body_too_large", str(exc))


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large",
               400: "bad_request", 415: "unsupported_media_type"}


@web.middleware
async def json_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Turn aiohttp's HTML errors and unexpected exceptions into JSON errors."""
    try:
        return await handler(request)
    except BodyTooLarge as exc:
        return body_too_large(exc)
    except BadForm as exc:
        return error_response(400, "bad_form", str(exc))
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        return error_response(exc.status, _HTTP_CODES.get(exc.status, "http_error"), exc.reason,
                              headers={k: v for k, v in exc.headers.items()
                                       if k.lower() in ("allow", "retry-after")})
    except Exception:
        log.exception("request_failed", path=request.path)
        return error_response(500, "internal_error", "the hub failed to handle this request")
