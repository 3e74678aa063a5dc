"""``returnhub webhook send``: sign a JSON file as a configured source would be signed and POST
it to the hub that ``returnhub serve`` runs with the same configuration.

Exit status: 0 when the hub answered 2xx (accepted or duplicate), 1 when it answered an error
or could not be reached (one line on stderr naming the URL), 2 for an invalid configuration or
an unknown source.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse

    from hub.config import ServerSettings, Settings

#: Addresses a server listens on that a client cannot connect to as such.
_ANY_ADDRESS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104


def local_url(server: ServerSettings) -> str | None:
    """The base URL ``serve`` listens on with these settings (``server.host`` and
    ``server.port`` from the config and ``RETURNHUB_SERVER__*``), as a local client reaches
    it; None when the port is chosen at start (``port = 0``)."""
    if server.port == 0:
        return None
    host = _ANY_ADDRESS.get(server.host, server.host)
    return f"http://{f'[{host}]' if ':' in host else host}:{server.port}"


def cmd_webhook_send(args: argparse.Namespace, settings: Settings) -> int:
    """Sign a JSON file as the named source would be signed and POST it to the hub."""
    from hub.checks import check_config
    from hub.connectors import ConnectorContext
    from hub.logs import get_logger

    spec = check_config(settings).get(args.source)
    if spec is None or spec.kind != "sources":
        print(f"no source named {args.source!r} in the config", file=sys.stderr)
        return 2
    base = local_url(settings.server)
    if args.url is None and base is None:
        print("returnhub: server.port is 0 (chosen at start): pass --url with the port "
              "`serve` printed", file=sys.stderr)
        return 2
    url = args.url or f"{base}/webhooks/{args.source}"
    context = ConnectorContext(name=args.source, http=None,
                               public_url=settings.server.base_url(),
                               data_dir=settings.data_dir, log=get_logger(args.source))
    source = spec.cls(spec.config, context)
    body = Path(args.file).read_bytes()
    headers = source.sign(body, event_id=args.id or f"msg_{uuid.uuid4().hex}")
    if args.print_curl:
        parts = " ".join(f"-H '{k}: {v}'" for k, v in headers.items())
        print(f"curl -sS -X POST {parts} --data-binary @{args.file} {url}")
        return 0
    return _post(url, body, headers)


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            print(response.status, response.read().decode())
    except urllib.error.HTTPError as exc:
        print(exc.code, exc.read().decode())
        return 1
    except (urllib.error.URLError, OSError) as exc:  # refused, unknown host, timeout
        reason = getattr(exc, "reason", None) or exc
        print(f"returnhub: cannot reach the hub at {url}: {reason}", file=sys.stderr)
        return 1
    return 0


def add_parser(subparsers: Any, load: Any) -> None:
    """Add ``webhook send``; ``load(args)`` reads the settings as every command does."""
    webhook = subparsers.add_parser("webhook", help="developer tools for webhooks")
    webhook_sub = webhook.add_subparsers(dest="webhook_command", required=True)
    send = webhook_sub.add_parser(
        "send", help="sign FILE as SOURCE and POST it to the hub (exit 1: the hub answered "
        "an error or could not be reached; 2: invalid configuration)")
    send.add_argument("file")
    send.add_argument("--source", required=True)
    send.add_argument("--url", help="default: the address `serve` listens on (server.host "
                      "and server.port from the config and RETURNHUB_SERVER__*)")
    send.add_argument("--id", help="delivery id (default: random); repeat it to test dedupe")
    send.add_argument("--print-curl", action="store_true",
                      help="print a signed curl command instead of sending")
    send.set_defaults(func=lambda args: cmd_webhook_send(args, load(args)))
