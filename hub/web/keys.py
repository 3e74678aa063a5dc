"""Typed application keys."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from hub.runtime import Hub

#: The running :class:`hub.runtime.Hub`.
HUB: web.AppKey[Hub] = web.AppKey("hub")
