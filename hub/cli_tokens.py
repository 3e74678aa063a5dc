"""``returnhub tokens create|list|revoke``: admin API tokens from the command line.

Wired into :mod:`hub.cli` by ``cli_tokens.add_parser(sub)``. The token is printed once, on
creation; only its hash is stored.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING, Any

from hub.config import load_settings
from hub.tokens import SCOPES, TokenError, TokenInfo

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from sqlalchemy.ext.asyncio import AsyncSession


async def _in_transaction(database_url: str, work: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
    """Migrate (the token table must exist), then run ``work`` in one transaction."""
    from hub.store.engine import make_engine, make_sessionmaker
    from hub.store.migrate import upgrade

    engine = make_engine(database_url)
    try:
        await upgrade(engine)
        async with make_sessionmaker(engine)() as session, session.begin():
            return await work(session)
    finally:
        await engine.dispose()


def _describe(info: TokenInfo) -> str:
    limits = []
    if info.regions:
        limits.append("regions " + ",".join(info.regions))
    if info.categories:
        limits.append("categories " + ",".join(info.categories))
    state = f"revoked {info.revoked_at:%Y-%m-%d %H:%M}" if info.revoked_at else "active"
    used = f"{info.last_used_at:%Y-%m-%d %H:%M}" if info.last_used_at else "never"
    return (f"{info.name}  scope {info.scope}  {'; '.join(limits) or 'all regions and categories'}"
            f"  created {info.created_at:%Y-%m-%d %H:%M}  last used {used}  {state}")


def cmd_tokens_create(args: argparse.Namespace) -> int:
    """Create a token and print it once."""
    from hub.store.engine import utcnow
    from hub.tokens import create_token

    settings = load_settings(args.config)

    async def work(session: AsyncSession) -> tuple[str, TokenInfo]:
        return await create_token(session, args.name, args.scope, utcnow(),
                                  regions=args.region or (), categories=args.category or ())

    try:
        token, info = asyncio.run(_in_transaction(settings.database_url, work))
    except TokenError as exc:
        print(f"returnhub: {exc}", file=sys.stderr)
        return 2
    print(token)
    print(f"created {_describe(info)}", file=sys.stderr)
    print("this token is shown once: store it now (only its hash is kept)", file=sys.stderr)
    return 0


def cmd_tokens_list(args: argparse.Namespace) -> int:
    """List tokens (names, scopes, limits and use; never the tokens)."""
    from hub.tokens import list_tokens

    settings = load_settings(args.config)
    tokens = asyncio.run(_in_transaction(settings.database_url, list_tokens))
    if not tokens:
        print("no tokens (create one with `returnhub tokens create NAME --scope read`)")
    for info in tokens:
        print(_describe(info))
    return 0


def cmd_tokens_revoke(args: argparse.Namespace) -> int:
    """Revoke a token by name."""
    from hub.store.engine import utcnow
    from hub.tokens import revoke_token

    settings = load_settings(args.config)

    async def work(session: AsyncSession) -> TokenInfo:
        return await revoke_token(session, args.name, utcnow())

    try:
        info = asyncio.run(_in_transaction(settings.database_url, work))
    except TokenError as exc:
        print(f"returnhub: {exc}", file=sys.stderr)
        return 2
    print(f"revoked {info.name}")
    return 0


def add_parser(subparsers: Any) -> None:
    """Add the ``tokens`` command (create, list, revoke) to ``returnhub``'s sub-commands."""
    tokens = subparsers.add_parser("tokens", help="admin API tokens")
    tokens_sub = tokens.add_subparsers(dest="tokens_command", required=True)

    create = tokens_sub.add_parser("create", help="create a token and print it once")
    create.add_argument("name", help="a unique name; it is written in the audit log")
    create.add_argument("--scope", required=True, choices=SCOPES,
                        help="read < operate (replays, test sends, preferences) < admin "
                             "(customer data export and erasure)")
    create.add_argument("--region", action="append", metavar="REGION",
                        help="limit to a country (DE) or group (EU, EEA, NA, UK); repeatable")
    create.add_argument("--category", action="append", metavar="CATEGORY",
                        help="limit to a product category; repeatable")
    create.set_defaults(func=cmd_tokens_create)

    tokens_sub.add_parser("list", help="list tokens (never shows them)").set_defaults(
        func=cmd_tokens_list)

    revoke = tokens_sub.add_parser("revoke", help="revoke a token by name")
    revoke.add_argument("name")
    revoke.set_defaults(func=cmd_tokens_revoke)
