"""The hub under test: its config file, its database (a SQLite file or a scratch PostgreSQL
database that is always dropped), and the plugin registration it may still lack."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hub.security import generate_fernet_key

#: The source name in the bench config; webhooks go to /webhooks/bench.
SOURCE_NAME = "bench"
#: Modules of bundled sink plugins the bench can use, by connector type.
SINK_MODULES = {"file": "returnhub_file", "sendgrid": "returnhub_sendgrid"}


def toml_value(value: Any) -> str:
    """One TOML value (strings, numbers, booleans and lists of them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def toml_dumps(data: dict[str, Any], prefix: str = "") -> str:
    """A nested dict as TOML: scalars first, then one [table] per nested dict."""
    lines = [f"{key} = {toml_value(value)}" for key, value in data.items()
             if not isinstance(value, dict)]
    for key, value in data.items():
        if isinstance(value, dict):
            name = f"{prefix}{key}"
            lines.append(f"\n[{name}]")
            lines.append(toml_dumps(value, prefix=f"{name}."))
    return "\n".join(line for line in lines if line)


def hub_config(work_dir: Path, *, db_url: str, sink: dict[str, Any], secret: str,
               sqlite_synchronous: str, allow_loopback: bool = False) -> dict[str, Any]:
    """Settings for a benchmark hub: one signed-webhook source, one email sink, and one email
    per ``return.approved`` event (stage ``approved`` notifies by email only).

    ``allow_loopback`` lets the hub call the fake provider on 127.0.0.1 (``security.
    outbound_allow``; hubs that predate the setting reach loopback anyway and refuse the key).
    """
    security: dict[str, Any] = {"pii_keys": [generate_fernet_key()],
                                "lookup_key": secrets.token_hex(16)}
    if allow_loopback:
        security["outbound_allow"] = ["127.0.0.0/8"]
    return {
        "data_dir": str(work_dir / "data"),
        "server": {"host": "127.0.0.1", "port": 0},
        "database": {"url": db_url, "sqlite_synchronous": sqlite_synchronous},
        "security": security,
        "logging": {"format": "json", "level": "INFO"},
        "sources": {SOURCE_NAME: {"type": "standard_webhooks", "secret": secret}},
        "sinks": {"mail": sink},
        "channels": {"email": {"providers": ["mail"]}},
        "notifications": {
            "default_locale": "en-US",
            "brand": {"store_name": "Bench Store", "from_email": "returns@bench.example",
                      "support_email": "support@bench.example"},
            "stages": {"approved": {"channels": ["email"]}},
        },
    }


def write_config(path: Path, config: dict[str, Any]) -> Path:
    """Write ``config`` as TOML."""
    path.write_text(toml_dumps(config) + "\n", encoding="utf-8")
    return path


def knows_setting(tree: Path, name: str) -> bool:
    """Whether the hub in ``tree`` (a checkout) defines the setting ``name`` in its config
    module: the config forbids unknown keys, so the bench only writes the ones it knows."""
    try:
        return f"{name}:" in (tree / "hub" / "config.py").read_text(encoding="utf-8")
    except OSError:
        return False


def registered_sink_types() -> set[str]:
    """Connector types the installed entry points register."""
    from hub.plugins import collect_connectors, get_plugin_manager

    return set(collect_connectors(get_plugin_manager()).sinks)


def plugin_shim(work_dir: Path, sink_type: str) -> Path | None:
    """When ``sink_type``'s bundled plugin is not registered as an entry point yet, a folder
    holding a minimal ``.dist-info`` that registers it (the standard third-party route); put it
    on the hub's PYTHONPATH. None when nothing is missing."""
    if sink_type in registered_sink_types():
        return None
    folder = work_dir / "plugin-shim"
    info = folder / "returnhub_bench_shim-0.0.0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: returnhub-bench-shim\n"
                                   "Version: 0.0.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(
        f"[returnhub]\n{sink_type} = {SINK_MODULES[sink_type]}\n", encoding="utf-8")
    return folder


def sqlite_url(work_dir: Path) -> str:
    """The SQLite file of one hub run."""
    return f"sqlite+aiosqlite:///{work_dir / 'hub.db'}"


@contextmanager
def scratch_postgres(admin_dsn: str) -> Iterator[str]:
    """A new PostgreSQL database for one hub run, dropped afterwards (even on failure);
    yields its SQLAlchemy URL."""
    import asyncpg

    name = f"returnhub_bench_{uuid.uuid4().hex[:12]}"

    async def execute(sql: str) -> None:
        connection = await asyncpg.connect(admin_dsn, timeout=10)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(execute(f'CREATE DATABASE "{name}"'))
    try:
        base = admin_dsn.split("://", 1)[1].rsplit("/", 1)[0]
        yield f"postgresql+asyncpg://{base}/{name}"
    finally:
        asyncio.run(execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
