"""The OpenAPI 3.1 document of the admin API, generated from its endpoint definitions.

Paths, parameters, bodies and responses all come from the :class:`~hub.web.admin.routing.
Endpoint` list and its pydantic models, the same objects that parse requests and serialize
answers, so the document cannot drift from the code.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from pydantic.json_schema import models_json_schema

from hub.web.admin.schemas import ErrorResponse

if TYPE_CHECKING:
    from pydantic import BaseModel

    from hub.web.admin.routing import Endpoint

REF_TEMPLATE = "#/components/schemas/{model}"
_PATH_PARAM = re.compile(r"\{([^}:]+)(:[^}]*)?\}")

_COMMON_ERRORS = {
    401: "No token, or an unknown or revoked token (``WWW-Authenticate: Bearer``).",
    403: "The token's scope is too low.",
}


def _models(endpoints: list[Endpoint]) -> list[type[BaseModel]]:
    seen: dict[type[BaseModel], None] = {ErrorResponse: None}
    for endpoint in endpoints:
        for model in (endpoint.path_model, endpoint.query_model, endpoint.body_model,
                      endpoint.response_model):
            if model is not None:
                seen[model] = None
    return list(seen)


def _schemas(models: list[type[BaseModel]]) -> tuple[dict[tuple[type, str], Any], dict]:
    inputs = [(m, "validation") for m in models]
    outputs = [(m, "serialization") for m in models]
    keyed, top = models_json_schema([*inputs, *outputs], ref_template=REF_TEMPLATE)
    return keyed, top.get("$defs", {})


def _parameters(model: type[BaseModel] | None, where: str, schemas: dict[str, Any],
                keyed: dict) -> list[dict[str, Any]]:
    if model is None:
        return []
    ref = keyed[(model, "validation")]["$ref"].rsplit("/", 1)[-1]
    schema = schemas[ref]
    required = set(schema.get("required", ()))
    params = []
    for name, prop in schema.get("properties", {}).items():
        param: dict[str, Any] = {"name": name, "in": where,
                                 "required": where == "path" or name in required,
                                 "schema": {k: v for k, v in prop.items() if k != "description"}}
        if prop.get("description"):
            param["description"] = prop["description"]
        if where == "query" and _is_array(prop):
            param["style"], param["explode"] = "form", True
        params.append(param)
    return params


def _is_array(prop: dict[str, Any]) -> bool:
    if prop.get("type") == "array":
        return True
    return any(option.get("type") == "array" for option in prop.get("anyOf", ()))


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {
        "schema": {"$ref": REF_TEMPLATE.format(model="ErrorResponse")}}}}


def _operation(endpoint: Endpoint, schemas: dict[str, Any], keyed: dict) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": endpoint.operation_id, "summary": endpoint.summary,
        "tags": [endpoint.tag],
        "security": [{"bearerAuth": []}],
        "x-required-scope": endpoint.scope,
        "parameters": (_parameters(endpoint.path_model, "path", schemas, keyed)
                       + _parameters(endpoint.query_model, "query", schemas, keyed)),
    }
    doc = (endpoint.operation.__doc__ or "").strip()
    description = f"Requires the `{endpoint.scope}` scope."
    if endpoint.audited:
        description += " Audit-logged with the token's name."
    operation["description"] = f"{doc}\n\n{description}" if doc else description
    if endpoint.body_model is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": keyed[(endpoint.body_model, "validation")]}}}
    success: dict[str, Any] = {"description": "Success."}
    if endpoint.response_model is not None:
        success["content"] = {"application/json": {
            "schema": keyed[(endpoint.response_model, "serialization")]}}
    responses: dict[str, Any] = {str(endpoint.status): success}
    errors = {**_COMMON_ERRORS, **endpoint.errors}
    if endpoint.path_model or endpoint.query_model or endpoint.body_model:
        errors.setdefault(422, "An unknown or invalid parameter or field; ``field`` names it.")
    for status, text in sorted(errors.items()):
        responses[str(status)] = _error(text)
    operation["responses"] = responses
    return operation


def openapi_path(path: str) -> str:
    """An aiohttp path template as an OpenAPI one (regex constraints dropped)."""
    return _PATH_PARAM.sub(lambda m: "{" + m.group(1) + "}", path)


def build_document(endpoints: list[Endpoint], *, server_url: str, version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document for ``endpoints``."""
    keyed, schemas = _schemas(_models(endpoints))
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        paths.setdefault(openapi_path(endpoint.path), {})[endpoint.method.lower()] = \
            _operation(endpoint, schemas, keyed)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Returnhub admin API", "version": version,
                 "description": "Returns, timelines, notifications, dead letters, connectors, "
                                "rules, templates and customer data. Every operation needs a "
                                "token (`returnhub tokens create`); see docs/admin-api.md."},
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer",
                               "description": "An API token: `Authorization: Bearer rh_...`."},
            },
        },
    }
