"""The ``returnhub`` command."""

from __future__ import annotations

import argparse
import asyncio
import errno
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic_settings import SettingsError
from sqlalchemy.exc import SQLAlchemyError

from hub.config import ConfigError, Settings, load_settings
from hub.local_payload import PayloadError
from hub.plugins import PluginError, describe_plugins, get_plugin_manager

if TYPE_CHECKING:
    from hub.assembly import ConnectorSpec


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config)


def cmd_check(args: argparse.Namespace) -> int:
    """Validate config, plugins, keys and templates without starting anything."""
    from hub.checks import check_config

    settings = _settings(args)
    specs = check_config(settings)
    sources = sorted(n for n, s in specs.items() if s.kind == "sources")
    sinks = sorted(n for n, s in specs.items() if s.kind == "sinks")
    print(f"configuration is valid: sources {', '.join(sources) or 'none'}; "
          f"sinks {', '.join(sinks) or 'none'}")
    _warn_stranded(settings, specs)
    return 0


def _warn_stranded(settings: Settings, specs: dict[str, ConnectorSpec]) -> None:
    """What the stored work would meet under ``settings`` (:mod:`hub.stranded_work`)."""
    from hub.assembly import former_names
    from hub.store.failures import safe_error
    from hub.stranded_work import stranded_in_database

    try:
        lines = stranded_in_database(settings, {*settings.sinks, *former_names(specs)})
    except Exception as exc:  # a database away: the configuration is still checked
        print(f"returnhub: warning: stored work not looked at: cannot read the database "
              f"({safe_error(exc).splitlines()[0][:200]})", file=sys.stderr)
        return
    for line in lines:
        print(f"returnhub: warning: {line}", file=sys.stderr)


def cmd_plugins(args: argparse.Namespace) -> int:
    """List plugins, versions and connector types."""
    disabled: list[str] = []
    try:
        disabled = _settings(args).plugins.disabled
    except ConfigError:
        pass  # listing plugins must work while the config is being fixed
    pm = get_plugin_manager(disabled=disabled)
    rows = [(p.name, p.distribution or "-", p.version or "-", ", ".join(p.connectors) or "-")
            for p in describe_plugins(pm)]
    header = ("plugin", "distribution", "version", "connector types")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)))
    if disabled:
        print(f"disabled: {', '.join(disabled)}")
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    """Migrate the database to the newest schema."""
    from hub.store.engine import make_engine
    from hub.store.migrate import current_revision, upgrade

    settings = _settings(args)

    async def run() -> str | None:
        engine = make_engine(settings.database_url)
        try:
            await upgrade(engine)
            return await current_revision(engine)
        finally:
            await engine.dispose()

    print(f"database at revision {asyncio.run(run())}")
    return 0


def cmd_serve(args: argparse.Namespace, *, ingress: bool = True) -> int:
    """Run the server (and, unless --no-workers, the workers): in one process, or in
    ``server.processes`` processes on one port (hub.supervisor)."""
    from hub.logs import configure_logging
    from hub.serve import die_with_parent, prepare_node, serve_process, share_rate_limits
    from hub.supervisor import resolve_processes, supervise

    child_of = getattr(args, "child_of", None)
    if child_of is not None:
        die_with_parent(child_of)
    settings = _settings(args)
    if getattr(args, "prepare_only", False):
        asyncio.run(prepare_node(settings))
        return 0
    share_rate_limits(settings, getattr(args, "siblings", 1))
    if getattr(args, "host", None):
        settings.server.host = args.host
    if getattr(args, "port", None) is not None:
        settings.server.port = args.port
    configure_logging(settings.logging.format, settings.logging.level)
    workers = not getattr(args, "no_workers", False)
    processes = 1 if not ingress else resolve_processes(
        settings.server.processes, getattr(args, "processes", None), settings.database_url)
    if processes > 1:
        return supervise(settings, processes, config=args.config, workers=workers)
    asyncio.run(serve_process(settings, ingress=ingress, workers=workers,
                              migrate=child_of is None, reuse_port=child_of is not None,
                              ready_fd=getattr(args, "ready_fd", None)))
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Run a worker-only node."""
    args.no_workers = False
    return cmd_serve(args, ingress=False)


def cmd_simulate(args: argparse.Namespace) -> int:
    """Run one event through the pipeline on a scratch database and print what would be sent."""
    from hub.simulate import simulate

    settings = _settings(args)
    payload = _read(args.file)
    for line in asyncio.run(simulate(settings, payload, source=args.source,
                                     headers=_headers(args))):
        print(line)
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    """Create the data dir, keys and missing secret files."""
    from hub.init import init_data_dir

    settings = _settings(args)
    created = init_data_dir(settings)
    for path in created:
        print(f"created {path}")
    print(f"data dir ready: {settings.data_dir}")
    return 0


def cmd_rules_test(args: argparse.Namespace) -> int:
    """Show which rules an event matches and what would be done and sent (no side effects)."""
    import json

    from hub.local_payload import read_events
    from hub.runtime import Hub

    settings = _settings(args)
    text = _read(args.file)

    async def run() -> dict:
        hub = Hub.build(settings)
        try:
            found = await read_events(hub, text, source=args.source, default_source="demo",
                                      headers=_headers(args))
            results = [await hub.rules.dry_run(event) for event in found.events]
        finally:
            await hub.engine.dispose()
        if found.source is None:  # a normalized event: the result as it always was
            return results[0]
        return {"source": found.source, "notes": found.notes, "events": results}

    print(json.dumps(asyncio.run(run()), indent=2))
    return 0


def _read(path: str) -> str:
    """A payload file's text; an unreadable file is one line, not a traceback."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PayloadError(f"cannot read it ({getattr(exc, 'strerror', None) or exc})") from None


def _headers(args: argparse.Namespace) -> dict[str, str]:
    """``--header "Name: value"`` options as a dict (e.g. X-Shopify-Topic)."""
    found = {}
    for raw in args.header or []:
        name, sep, value = raw.partition(":")
        if not sep or not name.strip():
            raise PayloadError(f"--header {raw!r}: write it as \"Name: value\"")
        found[name.strip()] = value.strip()
    return found


def cmd_status(args: argparse.Namespace) -> int:
    """Print queues, dead letters and provider breaker states (read from the database)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from hub.status import format_report, status_report

    settings = _settings(args)
    try:
        report = asyncio.run(status_report(settings))
    except (OSError, SQLAlchemyError) as exc:
        where = make_url(settings.database_url).render_as_string(hide_password=True)
        reason = getattr(exc, "orig", None) or exc
        print(f"returnhub: cannot read the database at {where}: "
              f"{type(reason).__name__}: {str(reason).splitlines()[0] if str(reason) else ''}",
              file=sys.stderr)
        return 1
    for line in format_report(report):
        print(line)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used by the docs test)."""
    parser = argparse.ArgumentParser(prog="returnhub", description=__doc__)
    parser.add_argument("--config", help="config file (default: $RETURNHUB_CONFIG, else "
                        "config/returnhub.toml)")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run ingress and workers")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--no-workers", action="store_true", help="ingress only")
    serve.add_argument("--processes", type=int, help="processes on the one port, each with "
                       "ingress and workers (0: one per core; default: server.processes)")
    serve.add_argument("--child-of", type=int, help=argparse.SUPPRESS)
    serve.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)
    serve.add_argument("--siblings", type=int, default=1, help=argparse.SUPPRESS)
    serve.add_argument("--prepare-only", action="store_true", help=argparse.SUPPRESS)
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run a worker-only node")
    worker.set_defaults(func=cmd_worker)

    sub.add_parser("init", help="create the data dir, keys and missing secret files"
                   ).set_defaults(func=cmd_init)
    sub.add_parser("check", help="validate config and plugins").set_defaults(func=cmd_check)
    sub.add_parser("plugins", help="list plugins and connector types").set_defaults(
        func=cmd_plugins)
    sub.add_parser("status", help="queues, dead letters and provider health").set_defaults(
        func=cmd_status)

    rules = sub.add_parser("rules", help="the rules stage")
    rules_sub = rules.add_subparsers(dest="rules_command", required=True)
    rules_test = rules_sub.add_parser("test", help="dry-run the rules on an event JSON file")
    rules_test.add_argument("file", help="a normalized event, or a platform's payload (a "
                            "Shopify webhook body, an ERP record) as JSON")
    _payload_options(rules_test, default="demo")
    rules_test.set_defaults(func=cmd_rules_test)

    db = sub.add_parser("db", help="database commands")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="migrate to the newest schema").set_defaults(
        func=cmd_db_upgrade)

    simulate = sub.add_parser("simulate", help="print what an event would send")
    simulate.add_argument("file", help="a normalized event, or a platform's payload (a "
                          "Shopify webhook body, an ERP record) as JSON")
    _payload_options(simulate, default="simulated")
    simulate.set_defaults(func=cmd_simulate)

    from hub.cli_keys import add_parser as add_keys_parser
    from hub.cli_plugin import add_parser as add_plugin_parser
    from hub.cli_templates import add_parser as add_templates_parser
    from hub.cli_tokens import add_parser as add_tokens_parser
    from hub.cli_webhook import add_parser as add_webhook_parser

    add_keys_parser(sub, _settings)
    add_webhook_parser(sub, _settings)
    add_tokens_parser(sub)
    add_templates_parser(sub)
    add_plugin_parser(sub)
    return parser


def _payload_options(parser: argparse.ArgumentParser, *, default: str) -> None:
    parser.add_argument("--source", default=None, help="the configured source whose parse "
                        "reads a platform payload (inferred when only one can), or the name a "
                        f"normalized event is attributed to (default: {default})")
    parser.add_argument("--header", action="append", metavar="'NAME: VALUE'",
                        help="a delivery header the payload came with, e.g. "
                        "'X-Shopify-Topic: returns/approve' (repeatable)")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``returnhub`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"returnhub: invalid configuration ({len(exc.problems)} problems):",
              file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    except PluginError as exc:
        print(f"returnhub: plugin error: {exc}", file=sys.stderr)
        return 2
    except PayloadError as exc:
        print(f"returnhub: {args.file}: {exc}", file=sys.stderr)
        return 2
    except SettingsError as exc:  # an environment variable that does not parse
        print(f"returnhub: invalid configuration: {exc} (a list or table given in an "
              "environment variable is written as JSON, e.g. RETURNHUB_PLUGINS__DISABLED="
              "'[\"file\"]')", file=sys.stderr)
        return 2
    except (OSError, SQLAlchemyError) as exc:  # the world refused: one line, no traceback
        print(f"returnhub: {_failure(exc, args)}", file=sys.stderr)
        return 1


#: What binding the server's port can meet (the rest of the OS errors name a file or a peer).
_CANNOT_LISTEN = frozenset({errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL})


def _failure(exc: BaseException, args: argparse.Namespace) -> str:
    """What a database, a folder or a port refused, in one line that names it (a database
    URL with its password masked) and quotes no statement parameter."""
    from sqlalchemy.engine import make_url

    from hub.store.failures import safe_error

    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{type(exc).__name__}: {exc.strerror}: {exc.filename}"
    if isinstance(exc, OSError) and exc.errno in _CANNOT_LISTEN:
        return f"cannot listen: {exc.strerror}"
    if not isinstance(exc, SQLAlchemyError | ConnectionError | TimeoutError | socket.gaierror):
        return f"{type(exc).__name__}: {exc.strerror or exc}"
    try:
        where = make_url(_settings(args).database_url).render_as_string(hide_password=True)
    except Exception:  # the settings themselves: name no database
        where = "the configured database"
    return f"cannot use the database at {where}: {safe_error(exc).splitlines()[0][:300]}"


if __name__ == "__main__":
    sys.exit(main())
