"""Declarative admin API routes: one :class:`Endpoint` per operation, with its pydantic models.

The same definitions install the aiohttp routes (:meth:`ApiRouter.install`) and build the
OpenAPI document (:mod:`hub.web.openapi`), so the two cannot drift. Each installed handler
checks the token's scope, parses path, query and body into their models (unknown query
parameters and body fields are 422 naming the field), calls the operation and serializes its
pydantic result.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, get_args, get_origin

from aiohttp import web
from pydantic import BaseModel, ValidationError

from hub.web.admin.errors import ApiError
from hub.web.auth import current_token, insufficient_scope
from hub.web.body import BodyTooLarge, read_body
from hub.web.errors import error_response
from hub.web.keys import HUB

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from hub.runtime import Hub
    from hub.tokens import TokenInfo

    #: An operation: takes the parsed call, returns a pydantic model, a response or None.
    Operation = Callable[["Call"], Awaitable[Any]]

#: The largest JSON body the admin API reads.
MAX_BODY_BYTES = 256 * 1024


@dataclass(slots=True)
class Call:
    """One parsed API request, as an operation sees it."""

    request: web.Request
    hub: Hub
    token: TokenInfo
    path: Any = None
    query: Any = None
    body: Any = None


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One operation of the admin API."""

    method: str
    path: str
    operation: Operation
    summary: str
    scope: str
    tag: str
    path_model: type[BaseModel] | None = None
    query_model: type[BaseModel] | None = None
    body_model: type[BaseModel] | None = None
    response_model: type[BaseModel] | None = None
    status: int = 200
    #: Whether the operation writes (and so is audit-logged).
    audited: bool = False
    #: Extra statuses it may answer, for the document: {status: description}.
    errors: dict[int, str] = field(default_factory=dict)

    @property
    def operation_id(self) -> str:
        """A stable identifier: the operation function's name."""
        return self.operation.__name__


@dataclass(slots=True)
class ApiRouter:
    """Collects endpoints; see the module docstring."""

    tag: str
    endpoints: list[Endpoint] = field(default_factory=list)

    def route(self, method: str, path: str, *, summary: str, scope: str,
              path_model: type[BaseModel] | None = None,
              query: type[BaseModel] | None = None, body: type[BaseModel] | None = None,
              response: type[BaseModel] | None = None, status: int = 200,
              audited: bool = False, errors: dict[int, str] | None = None
              ) -> Callable[[Operation], Operation]:
        """Decorator registering an operation under ``method path``."""
        def register(operation: Operation) -> Operation:
            self.endpoints.append(Endpoint(
                method=method.upper(), path=path, operation=operation, summary=summary,
                scope=scope, tag=self.tag, path_model=path_model, query_model=query,
                body_model=body, response_model=response, status=status, audited=audited,
                errors=errors or {}))
            return operation
        return register


def install(app: web.Application, endpoints: list[Endpoint]) -> None:
    """Add an aiohttp route for every endpoint."""
    for endpoint in endpoints:
        app.router.add_route(endpoint.method, endpoint.path, _handler(endpoint))


def _handler(endpoint: Endpoint) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        token = current_token(request)
        if not token.allows_scope(endpoint.scope):
            return insufficient_scope(endpoint.scope)
        try:
            call = Call(request=request, hub=request.app[HUB], token=token,
                        path=_parse(endpoint.path_model, dict(request.match_info)),
                        query=_parse(endpoint.query_model, _query_values(endpoint, request)),
                        body=await _read_body(endpoint, request))
            result = await endpoint.operation(call)
        except ApiError as exc:
            return error_response(exc.status, exc.code, exc.message, field=exc.field,
                                  headers=exc.headers)
        if isinstance(result, web.StreamResponse):
            return result
        if result is None:
            return web.Response(status=204)
        data = result.model_dump(mode="json") if isinstance(result, BaseModel) else result
        return web.json_response(data, status=endpoint.status,
                                 dumps=lambda v: json.dumps(v, ensure_ascii=False))
    handle.__name__ = endpoint.operation_id
    return handle


def _is_list(annotation: Any) -> bool:
    if get_origin(annotation) in (list, tuple, set):
        return True
    return any(_is_list(arg) for arg in get_args(annotation) if arg is not type(None))


def _query_values(endpoint: Endpoint, request: web.Request) -> dict[str, Any]:
    model = endpoint.query_model
    if model is None:
        if request.query:
            name = next(iter(request.query))
            raise ApiError(422, "unknown_field", f"unknown query parameter {name!r}", field=name)
        return {}
    values: dict[str, Any] = {}
    for name in request.query:
        if name in values:
            continue
        items = request.query.getall(name)
        info = model.model_fields.get(name)
        if info is not None and _is_list(info.annotation):
            values[name] = [v for item in items for v in item.split(",") if v]
        elif len(items) > 1:
            raise ApiError(422, "repeated_parameter", f"{name!r} was given more than once",
                           field=name)
        else:
            values[name] = items[0]
    return values


async def _read_body(endpoint: Endpoint, request: web.Request) -> Any:
    if request.method in ("GET", "HEAD", "DELETE"):
        return None
    try:
        raw = await read_body(request, MAX_BODY_BYTES)
    except BodyTooLarge as exc:
        raise ApiError(413, "body_too_large", str(exc)) from None
    if not raw.strip():
        data: Any = {}
    else:
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "invalid_json", "the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(422, "invalid_body", "the body must be a JSON object")
    if endpoint.body_model is None:
        if data:
            name = next(iter(data))
            raise ApiError(422, "unknown_field", f"unknown field {name!r}", field=name)
        return None
    return _parse(endpoint.body_model, data)


def _parse(model: type[BaseModel] | None, data: dict[str, Any]) -> Any:
    if model is None:
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc) from None


def validation_error(exc: ValidationError) -> ApiError:
    """A 422 naming the first unknown field, else the first invalid one (input values are
    never echoed)."""
    errors = exc.errors(include_input=False, include_url=False)
    error = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    path = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        return ApiError(422, "unknown_field", f"unknown field {path!r}", field=path)
    if error["type"] == "missing":
        return ApiError(422, "missing_field", f"{path!r} is required", field=path)
    message = error["msg"].removeprefix("Value error, ")
    return ApiError(422, "invalid_field", f"{path}: {message}" if path else message,
                    field=path or None)
