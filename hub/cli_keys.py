"""``returnhub keys generate|rotate``: the PII encryption keys.

Wired into :mod:`hub.cli` by ``cli_keys.add_parser(sub, load)``. ``rotate`` re-encrypts
stored customer data under the first of ``security.pii_keys`` while the hub runs.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from hub.config import Settings


def cmd_keys_generate(_args: argparse.Namespace) -> int:
    """Print a new PII encryption key."""
    from hub.security import generate_fernet_key

    print(generate_fernet_key())
    return 0


def cmd_keys_rotate(args: argparse.Namespace,
                    load: Callable[[argparse.Namespace], Settings]) -> int:
    """Re-encrypt stored customer data under the first of ``security.pii_keys``, online."""
    from hub.keys import load_cipher
    from hub.store.engine import make_engine, make_sessionmaker
    from hub.store.rotation import rotate_keys

    settings = load(args)
    cipher = load_cipher(settings)

    async def run():  # noqa: ANN202
        engine = make_engine(settings.database_url, pool_size=2)
        try:
            return await rotate_keys(make_sessionmaker(engine), cipher,
                                     batch_size=args.batch_size, dry_run=args.dry_run)
        finally:
            await engine.dispose()

    report = asyncio.run(run())
    verb = "to re-encrypt" if args.dry_run else "re-encrypted"
    for name, column in report.columns.items():
        print(f"{name:<32} {column.current:>9,} current  {column.rewritten:>9,} {verb}"
              + (f"  {column.changed_meanwhile:,} changed meanwhile" if column.changed_meanwhile
                 else "") + (f"  {column.unreadable:,} UNREADABLE" if column.unreadable else ""))
    left = report.old_key_values
    if args.dry_run:
        print(f"{left:,} values are under an older key" if left
              else "every value is under the newest key")
    elif left:
        print(f"{left:,} values are still under an older key or unreadable: run it again "
              "(after every node uses the new key first); keep the old keys meanwhile")
    else:
        print("every value is under the newest key: the older keys may be removed")
    return 1 if left else 0


def add_parser(subparsers: Any, load: Callable[[argparse.Namespace], Settings]) -> None:
    """Add ``keys generate|rotate``; ``load(args)`` reads the settings as every command
    does."""
    keys = subparsers.add_parser("keys", help="key management")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    keys_sub.add_parser("generate", help="print a new PII key").set_defaults(
        func=cmd_keys_generate)
    rotate = keys_sub.add_parser(
        "rotate", help="re-encrypt stored customer data under the first PII key, while the "
        "hub runs; exits 1 while values under older keys remain")
    rotate.add_argument("--batch-size", type=int, default=500,
                        help="rows per transaction (default 500)")
    rotate.add_argument("--dry-run", action="store_true",
                        help="only count the values under older keys")
    rotate.set_defaults(func=lambda args: cmd_keys_rotate(args, load))
