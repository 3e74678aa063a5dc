"""``returnhub tokens create|list|revoke`` (through :func:`hub.cli_tokens.add_parser`)."""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
from pathlib import Path

import pytest

from hub.cli_tokens import add_parser
from hub.store.engine import make_engine, make_sessionmaker, utcnow
from hub.tokens import authenticate, hash_token


def _run(config: Path, *argv: str) -> int:
    parser = argparse.ArgumentParser(prog="returnhub")
    parser.add_argument("--config")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser(sub)
    args = parser.parse_args(["--config", str(config), *argv])
    return args.func(args)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "returnhub.toml"
    path.write_text(f'data_dir = "{tmp_path / "data"}"\n[database]\n'
                    f'url = "sqlite+aiosqlite:///{tmp_path / "hub.db"}"\n')
    return path


def test_create_prints_the_token_once_and_stores_its_hash(config, tmp_path, capsys):
    assert _run(config, "tokens", "create", "ci-bot", "--scope", "operate", "--region", "eu",
                "--region", "US", "--category", "Shoes") == 0
    out, err = capsys.readouterr()
    token = out.strip()
    assert token.startswith("rh_") and "shown once" in err
    database = sqlite3.connect(tmp_path / "hub.db")
    rows = database.execute("SELECT name, token_hash, scopes, regions, categories "
                            "FROM api_tokens").fetchall()
    dump = "\n".join(database.iterdump())
    database.close()
    assert rows == [("ci-bot", hash_token(token), '["operate"]', '["EU", "US"]', '["shoes"]')]
    assert token not in dump

    async def check() -> str | None:
        engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
        try:
            async with make_sessionmaker(engine)() as session, session.begin():
                info = await authenticate(session, token, utcnow())
                return info.scope if info else None
        finally:
            await engine.dispose()

    assert asyncio.run(check()) == "operate"
    assert _run(config, "tokens", "create", "ci-bot", "--scope", "read") == 2
    assert "already exists" in capsys.readouterr().err

    assert _run(config, "tokens", "list") == 0
    listing = capsys.readouterr().out
    assert "ci-bot" in listing and "operate" in listing and "EU,US" in listing
    assert token not in listing

    assert _run(config, "tokens", "revoke", "ci-bot") == 0
    assert "revoked ci-bot" in capsys.readouterr().out
    assert asyncio.run(check()) is None
    assert _run(config, "tokens", "revoke", "nobody") == 2


def test_scope_must_be_known(config):
    with pytest.raises(SystemExit):
        _run(config, "tokens", "create", "x", "--scope", "root")
