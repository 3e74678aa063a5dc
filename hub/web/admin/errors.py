"""The admin API's error: raised by operations, answered as the hub's JSON error shape."""

from __future__ import annotations


class ApiError(Exception):
    """An answer other than success: ``{"error": {"code", "message", "field"}}`` with
    ``status``. Messages name fields and ids, never customer data."""

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers


def not_found(what: str) -> ApiError:
    """404 for an object that does not exist or is outside the token's limits (the two are
    indistinguishable on purpose)."""
    return ApiError(404, "not_found", f"no such {what}")
