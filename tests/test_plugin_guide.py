"""docs/plugin-guide.md's walk-through runs as written, and is the issue-14 proof.

Every fenced block of "From nothing to a published sink" is executed in order: a block titled
``file=PATH`` is written to PATH, an ``sh`` block's commands are run, with ``returnhub``,
``python`` and ``pip`` of a fresh virtual environment (tests/plugin_venv.py) first on PATH.
Steps 1-5 and 7 (generate, install, the plugin's own contract tests, publish) run once; step 6
(a ``returnhub serve`` subprocess with the guide's config, a signed Standard Webhooks event
posted by ``returnhub webhook send``, the message arriving at a local webhook this test runs)
runs on SQLite and on PostgreSQL. Only addresses differ from the text: the webhook's port and
the hub's (``RETURNHUB_SERVER__PORT``, read by ``serve`` and ``webhook send`` alike), and the
database (``RETURNHUB_DATABASE__URL``).
"""

from __future__ import annotations

import ast
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import hub.contract
from hub.scaffold import sink_files
from tests.plugin_venv import FreshVenv

ROOT = Path(__file__).resolve().parents[1]
GUIDE = (ROOT / "docs" / "plugin-guide.md").read_text(encoding="utf-8")
TUTORIAL = GUIDE.split("## From nothing to a published sink", 1)[1].split("\n## ", 1)[0]
BLOCK = re.compile(r"^```(\w+)(?: file=(\S+))?\n(.*?)^```$", re.S | re.M)
#: Where the guide's config says the webhook is, and where the hub listens by default.
GUIDE_WEBHOOK = "http://127.0.0.1:8099"
PLUGIN_FILE = "slack/returnhub_slack/__init__.py"


@dataclass(frozen=True)
class Block:
    """One fenced block of the walk-through."""

    step: int
    language: str
    path: str | None
    text: str


def tutorial_blocks() -> list[Block]:
    """The walk-through's blocks, each with the number of the step it is in."""
    blocks = []
    for section in re.split(r"^### ", TUTORIAL, flags=re.M)[1:]:
        step = int(section.split(".", 1)[0])
        blocks.extend(Block(step, language, path or None, text)
                      for language, path, text in BLOCK.findall(section))
    return blocks


def code_lines(source: str) -> int:
    """Lines of code: neither blank nor only a comment."""
    return sum(1 for line in source.splitlines()
               if line.strip() and not line.strip().startswith("#"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Webhook:
    """The local webhook the guide's sink posts to: records each request, answers 200."""

    def __init__(self) -> None:
        self.posts: list[tuple[dict[str, str], Any]] = []
        received = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((dict(self.headers), json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok": true}')

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Shell:
    """Runs the guide's commands in ``cwd`` with the fresh venv's tools first on PATH."""

    def __init__(self, venv: FreshVenv, tools: Path) -> None:
        self.venv = venv
        self.env = {**venv.env(), "PATH": f"{tools}:{venv.env()['PATH']}"}

    def run(self, command: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", "-c", command], cwd=cwd, env={**self.env, **env},
                              capture_output=True, text=True, timeout=180, check=False)

    def start(self, command: str, cwd: Path, log: Path, **env: str) -> subprocess.Popen:
        with log.open("w") as out:
            return subprocess.Popen(["bash", "-c", f"exec {command}"], cwd=cwd,
                                    env={**self.env, **env}, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)


def make_tools(folder: Path, venv: FreshVenv) -> Path:
    """``python``, ``returnhub`` and ``pip`` for the fresh venv. pip is this checkout's, aimed at
    the venv with ``--python``; it installs without dependencies and without build isolation
    because they are already in the environment underneath (offline and quick)."""
    folder.mkdir()
    scripts = {
        "python": f'exec {venv.python} "$@"\n',
        "returnhub": f'exec {venv.python} -m hub.cli "$@"\n',
        "pip": (f'case "$1" in install|wheel) set -- "$1" --no-deps --no-build-isolation '
                f'"${{@:2}}";; esac\nexec {sys.executable} -m pip --python {venv.python} "$@"\n'),
    }
    for name, body in scripts.items():
        path = folder / name
        path.write_text("#!/bin/bash\n" + body)
        path.chmod(0o755)
    return folder


def run_block(block: Block, shell: Shell, cwd: Path, replace: dict[str, str] | None = None,
              **env: str) -> list[subprocess.CompletedProcess]:
    """Write a file block, or run an sh block's commands (each must exit 0)."""
    text = block.text
    for old, new in (replace or {}).items():
        text = text.replace(old, new)
    if block.path:
        target = cwd / block.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        return []
    assert block.language == "sh", f"step {block.step}: a block neither file nor sh"
    results = []
    for command in (line for line in text.splitlines() if line.strip()):
        result = shell.run(command, cwd, **env)
        assert result.returncode == 0, (command, result.stdout, result.stderr)
        results.append(result)
    return results


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict[str, Any]:
    """Steps 1-5 and 7 run as written: generated, written, installed, tested, published."""
    work = tmp_path_factory.mktemp("guide")
    venv = FreshVenv(work / ".venv")
    shell = Shell(venv, make_tools(work / ".tools", venv))
    outputs: dict[str, str] = {}
    for block in tutorial_blocks():
        if block.step != 6:
            for result in run_block(block, shell, work):
                outputs[result.args[-1]] = result.stdout
    return {"work": work, "shell": shell, "outputs": outputs}


def test_steps_one_to_five_and_seven_work_as_written(installed) -> None:
    outputs, work = installed["outputs"], installed["work"]
    listing = outputs["returnhub plugins"]
    row = next(line for line in listing.splitlines() if line.startswith("slack "))
    assert "returnhub-slack" in row and "0.1.0" in row
    tests = outputs["cd slack && python -m pytest -q tests"]
    assert re.search(r"\b1[0-9] passed", tests) and "failed" not in tests, tests
    assert (work / "dist" / "returnhub_slack-0.1.0-py3-none-any.whl").is_file()


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_step_six_delivers_a_signed_webhook_to_the_new_channel(installed, db, tmp_path,
                                                                     request) -> None:
    """The installed third-party sink, in a ``returnhub serve`` subprocess, delivers the
    approval the signed webhook announced to the local webhook."""
    from tests.conftest import create_pg_database, drop_pg_database

    if db == "sqlite":
        url, pg_name = f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}", None
    else:
        pg_name = await create_pg_database()
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{pg_name}"
    webhook = Webhook()
    port = free_port()
    env = {"RETURNHUB_SERVER__PORT": str(port), "RETURNHUB_DATABASE__URL": url}
    shell: Shell = installed["shell"]
    server = None
    try:
        for block in (b for b in tutorial_blocks() if b.step == 6):
            serve = [line for line in block.text.splitlines() if line.endswith(" serve")]
            if serve:
                run_block(Block(6, "sh", None, block.text.replace(serve[0], "")), shell,
                          tmp_path, **env)
                server = shell.start(serve[0], tmp_path, tmp_path / "serve.log", **env)
                wait_until(lambda: f"listening on http://127.0.0.1:{port}"
                           in (tmp_path / "serve.log").read_text(), server, tmp_path)
                continue
            for result in run_block(block, shell, tmp_path, {GUIDE_WEBHOOK: webhook.url},
                                    **env):
                assert result.stdout.startswith("202 "), result.stdout
        wait_until(lambda: webhook.posts, server, tmp_path)
        headers, post = webhook.posts[0]
        assert post["channel"] == "#returns" and "R-1001" in post["text"]
        assert post["id"].startswith("ntf_") or post["id"]
        assert headers["Authorization"] == "Bearer test-token-0123456789"
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
        webhook.close()
        if pg_name:
            await drop_pg_database(pg_name)


def wait_until(condition: Any, server: subprocess.Popen | None, folder: Path,
               timeout: float = 60) -> None:
    """Poll ``condition``; fail early with the server's log if it exits."""
    deadline = time.monotonic() + timeout
    while not condition():
        log = (folder / "serve.log").read_text() if (folder / "serve.log").exists() else ""
        assert server is None or server.poll() is None, log
        assert time.monotonic() < deadline, log
        time.sleep(0.05)


def test_every_block_of_the_walk_through_is_executed() -> None:
    blocks = tutorial_blocks()
    assert len(BLOCK.findall(TUTORIAL)) == len(blocks) >= 10
    assert all(block.path or block.language == "sh" for block in blocks)
    assert {block.step for block in blocks} == set(range(1, 8))


def test_the_sink_is_at_most_forty_lines_and_imports_only_the_contract() -> None:
    [plugin] = [b.text for b in tutorial_blocks() if b.path == PLUGIN_FILE]
    lines = code_lines(plugin)
    assert lines <= 40
    assert f"({lines} lines of code)" in TUTORIAL
    tree = ast.parse(plugin)
    modules = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert {m for m in modules if m and m.split(".")[0] == "hub"} == {"hub.contract"}
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.Import)]


def test_the_files_are_what_plugin_new_writes() -> None:
    generated = sink_files("slack")
    shown = {b.path.removeprefix("slack/"): b.text for b in tutorial_blocks()
             if b.path and b.path.startswith("slack/")}
    assert shown == generated


def error_tables() -> list[list[str]]:
    """The guide's tables about errors (a header cell says "error" or "raise"), as rows."""
    tables, current = [], []
    for line in [*GUIDE.splitlines(), ""]:
        if line.startswith("|"):
            current.append(line)
            continue
        if current and re.search(r"\berror\b|\braise\b", current[0]):
            tables.append(current)
        current = []
    return tables


def test_every_error_the_guide_tables_name_is_in_the_contract() -> None:
    tables = error_tables()
    assert len(tables) >= 3  # what to raise, the status table, what the contract checks
    names = {name for table in tables for row in table
             for name in re.findall(r"`([A-Z][A-Za-z]+)(?:\(|`)", row)}
    assert {"MessageRejected", "RateLimited", "OutcomeUnknown", "ProviderUnavailable",
            "SignatureError", "StatusUpdate", "SendResult"} <= names
    missing = sorted(name for name in names if not hasattr(hub.contract, name))
    assert not missing, f"named in docs/plugin-guide.md but not in hub.contract: {missing}"
