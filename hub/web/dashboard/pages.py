"""Server-rendered pages (the dashboard and the customer portal): one Jinja2 environment over
``hub/web/templates`` (page templates, not message templates), autoescaped, and the security
headers every page carries."""

from __future__ import annotations

import functools
import re
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

#: Where page templates live.
TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
#: Where the pages' CSS and JavaScript live (served at /static/).
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
_COLOR = re.compile(r"^#[0-9a-fA-F]{3,8}$")


@functools.cache
def environment() -> Environment:
    """The page templates' environment (autoescaped; undefined names are errors)."""
    env = Environment(loader=FileSystemLoader(str(TEMPLATES_DIR)), undefined=StrictUndefined,
                      autoescape=select_autoescape(enabled_extensions=("html",),
                                                   default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["color"] = safe_color
    env.filters["duration"] = duration
    env.filters["pct"] = percent
    env.filters["when"] = when
    return env


def duration(seconds: float | None) -> str:
    """``93.5`` → ``1.6 min``; a dash for no value."""
    if seconds is None:
        return "–"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.1f} s" if seconds >= 1 else f"{seconds * 1000:.0f} ms"


def percent(value: float | None) -> str:
    """``97.5`` → ``97.5%``; a dash for no value."""
    return "–" if value is None else f"{value:.1f}%"


def when(value: datetime | None) -> str:
    """A UTC timestamp, to the second."""
    return "–" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


def safe_color(value: str | None, default: str = "#1f6feb") -> str:
    """A CSS hex colour from config, or ``default`` (never arbitrary CSS)."""
    return value if value and _COLOR.match(value) else default


def render_page(template: str, *, status: int = 200, referrer: str = "same-origin",
                **context: Any) -> web.Response:
    """Render a page with a per-response nonce for its one inline ``<style>`` and strict
    headers: no inline scripts, no framing, nothing cached. The portal passes
    ``referrer="no-referrer"``: its URLs carry the link's token. (The dashboard keeps
    ``same-origin``: under ``no-referrer`` Chromium sends ``Origin: null`` with form posts,
    which the CSRF origin check must refuse.)"""
    nonce = secrets.token_urlsafe(16)
    html = environment().get_template(template).render(nonce=nonce, **context)
    response = web.Response(text=html, status=status, content_type="text/html", charset="utf-8")
    response.headers.update({
        "Content-Security-Policy": (
            "default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self' data:; "
            f"style-src 'self' 'nonce-{nonce}'; form-action 'self'; base-uri 'none'; "
            "frame-ancestors 'none'"),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": referrer,
        "Cache-Control": "no-store",
    })
    return response
