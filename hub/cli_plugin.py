"""``returnhub plugin new sink NAME``: write a minimal plugin distribution (hub/scaffold)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse


def cmd_plugin_new(args: argparse.Namespace) -> int:
    """Write ``./NAME``; exit 2 with one line when the name or the folder cannot be used."""
    from hub.scaffold import ScaffoldError, write_sink

    try:
        target = write_sink(args.name, Path(args.directory))
    except ScaffoldError as exc:
        print(f"returnhub: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {target}: pip install -e '{target}[test]' && pytest {target}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``plugin new sink NAME`` to the ``returnhub`` command."""
    plugin = sub.add_parser("plugin", help="plugin authoring")
    plugin_sub = plugin.add_subparsers(dest="plugin_command", required=True)
    new = plugin_sub.add_parser("new", help="write a minimal plugin distribution")
    kind_sub = new.add_subparsers(dest="kind", required=True)
    sink = kind_sub.add_parser("sink", help="a webhook sink for a new channel NAME, with a "
                               "test running the shipped SinkContract")
    sink.add_argument("name", help="the plugin, channel and sink type name (e.g. slack)")
    sink.add_argument("--directory", default=".", help="where to create NAME/ (default: .)")
    sink.set_defaults(func=cmd_plugin_new)
