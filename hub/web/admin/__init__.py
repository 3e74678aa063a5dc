"""The admin API under ``/api``: every operation, and the OpenAPI document describing them."""

from __future__ import annotations

import functools
from importlib.metadata import PackageNotFoundError, version

from aiohttp import web

from hub.web.admin import (
    alerts,
    audit,
    campaigns,
    connectors,
    consent,
    customers,
    dead_letters,
    gdpr,
    matches,
    notifications,
    previews,
    returns,
    rules,
    templates,
)
from hub.web.admin.routing import ApiRouter, Call, Endpoint, install
from hub.web.openapi import build_document

#: The path of the OpenAPI document.
OPENAPI_PATH = "/api/openapi.json"

_meta = ApiRouter(tag="meta")


@_meta.route("GET", OPENAPI_PATH, summary="This API's OpenAPI 3.1 document", scope="read")
async def get_openapi(call: Call) -> web.Response:
    """The document, generated from the route definitions."""
    return web.json_response(openapi_document(call.hub.public_url))


def endpoints() -> list[Endpoint]:
    """Every admin API endpoint."""
    return [*returns.router.endpoints, *notifications.router.endpoints,
            *dead_letters.router.endpoints, *connectors.router.endpoints,
            *rules.router.endpoints, *previews.router.endpoints, *matches.router.endpoints,
            *templates.router.endpoints,
            *customers.router.endpoints, *consent.router.endpoints,
            *gdpr.router.endpoints, *audit.router.endpoints,
            *alerts.router.endpoints, *campaigns.router.endpoints, *_meta.endpoints]


@functools.lru_cache(maxsize=4)
def openapi_document(server_url: str) -> dict:
    """The OpenAPI document of :func:`endpoints` (built once per server URL)."""
    try:
        hub_version = version("returnhub")
    except PackageNotFoundError:
        hub_version = "0"
    return build_document(endpoints(), server_url=server_url, version=hub_version)


def setup_admin_api(app: web.Application) -> None:
    """Install the admin API's routes on ``app`` (authentication is the app's middleware)."""
    install(app, endpoints())
    app[connectors.TEST_SENDS] = connectors.SendBudget()


__all__ = ["OPENAPI_PATH", "endpoints", "openapi_document", "setup_admin_api"]
