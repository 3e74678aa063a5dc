"""``returnhub templates preview STAGE``: render a stage's message with realistic sample data.

Wired into :mod:`hub.cli` with ``add_parser(sub)``. Exit status: 0 when the message renders
(and an SMS fits ``notifications.sms_max_segments``), 1 when a template fails (the file and
the variable are named) or an SMS is too long, 2 for an invalid configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from hub.config import ConfigError, load_settings

if TYPE_CHECKING:
    from hub.templates import RenderedMessage

#: The bundled channels; a plugin's channel (any other name) renders its own
#: ``<channel>.txt.j2`` or the stage's ``email.txt.j2``.
CHANNELS = ("email", "sms", "portal")
_CHANNEL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _channel(value: str) -> str:
    if not _CHANNEL_NAME.fullmatch(value):
        raise argparse.ArgumentTypeError("a channel name is letters, digits, '_' or '-'")
    return value


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``templates`` command (with ``preview``) to ``returnhub``'s subcommands."""
    templates = subparsers.add_parser("templates", help="message template tools")
    templates_sub = templates.add_subparsers(dest="templates_command", required=True)
    preview = templates_sub.add_parser(
        "preview", help="render a stage's message with sample data",
        description="Render STAGE's message for a channel with realistic sample data, in a "
        "locale and a store's brand, exactly as it would be sent.")
    preview.add_argument("stage", help="stage name, e.g. approved")
    preview.add_argument("--channel", type=_channel, default="email",
                         help=f"channel to render: {', '.join(CHANNELS)} or a plugin's "
                         "(default: email)")
    preview.add_argument("--locale", help="customer locale, e.g. fr or de-DE "
                         "(default: notifications.default_locale)")
    preview.add_argument("--store", dest="brand_source", metavar="SOURCE",
                         help="render in this store's brand (a source name with a "
                         "[notifications.brands.SOURCE] override)")
    preview.add_argument("--variant", choices=("full", "minimal"), default="full",
                         help="full: every optional value set (default); minimal: none")
    preview.add_argument("--html", action="store_true",
                         help="print the HTML part instead of the text part (email)")
    preview.add_argument("--html-out", metavar="FILE", type=Path,
                         help="also write the HTML part to FILE, to open in a browser")
    # SUPPRESS keeps a --config given before the subcommand (returnhub --config X templates).
    preview.add_argument("--config", default=argparse.SUPPRESS,
                         help="config file (default: $RETURNHUB_CONFIG, else "
                         "config/returnhub.toml)")
    preview.set_defaults(func=cmd_templates_preview)


def cmd_templates_preview(args: argparse.Namespace) -> int:
    """Print the rendered message; non-zero when a template fails or an SMS is too long."""
    from hub.content.live import TemplateLibrary
    from hub.content.preview import preview
    from hub.plugins import get_plugin_manager
    from hub.templates import TemplateRenderError
    from hub.templates_in_use import UNREAD, saved_library

    try:
        settings = load_settings(getattr(args, "config", None))
    except ConfigError as exc:
        print(f"returnhub: invalid configuration ({len(exc.problems)} problems):",
              file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    pm = get_plugin_manager(disabled=settings.plugins.disabled)
    library = asyncio.run(saved_library(settings))
    if library is None:
        print(f"({UNREAD})", file=sys.stderr)
    renderer = TemplateLibrary(settings, pm).build(library or {})
    try:
        rendered = preview(settings, renderer, args.stage, args.channel, args.locale,
                           args.brand_source, variant=args.variant)
    except TemplateRenderError as exc:
        print(f"returnhub: template error: {exc}", file=sys.stderr)
        return 1
    _print(rendered, args)
    if args.html_out is not None and rendered.html is not None:
        args.html_out.write_text(rendered.html, encoding="utf-8")
        print(f"(HTML written to {args.html_out})", file=sys.stderr)
    if args.channel == "sms":
        return _sms_verdict(rendered, settings.notifications.sms_max_segments)
    return 0


def _print(rendered: RenderedMessage, args: argparse.Namespace) -> None:
    print(f"# templates: {', '.join(rendered.templates)}")
    if rendered.subject is not None:
        print(f"Subject: {rendered.subject}")
        print()
    if args.html and rendered.html is not None:
        print(rendered.html)
        return
    print(rendered.text)
    if rendered.html is not None:
        print()
        print(f"# HTML part: {len(rendered.html.encode())} bytes, CSS inlined "
              "(--html prints it, --html-out FILE saves it)")


def _sms_verdict(rendered: RenderedMessage, limit: int) -> int:
    from hub.content.sms import count_segments

    cost = count_segments(rendered.text)
    print(f"# {cost.segments} segment(s), {cost.encoding}, {cost.units} units; "
          f"limit {limit}")
    if cost.segments > limit:
        print(f"returnhub: the SMS is {cost.segments} segments, over "
              f"notifications.sms_max_segments = {limit}", file=sys.stderr)
        return 1
    return 0
