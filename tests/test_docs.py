"""The docs stay true: every setting and hook is documented, the example config is valid."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from hub import hookspecs
from hub.config import ChannelSettings, Settings, StageSettings

ROOT = Path(__file__).resolve().parents[1]


def _fields(model: type[BaseModel]) -> set[str]:
    names = set()
    for name, field in model.model_fields.items():
        names.add(name)
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= _fields(annotation)
    return names


def test_every_setting_is_in_the_configuration_reference():
    reference = (ROOT / "docs" / "configuration.md").read_text()
    for name in _fields(Settings) | _fields(ChannelSettings) | _fields(StageSettings):
        documented = f"`{name}`" in reference or f"[{name}]" in reference \
            or f".{name}]" in reference
        assert documented, f"docs/configuration.md does not document {name}"


def test_every_hook_is_in_the_plugin_guide():
    guide = (ROOT / "docs" / "plugin-guide.md").read_text()
    for name in (n for n in dir(hookspecs) if n.startswith("returnhub_")):
        assert name in guide


def test_readme_commands_match_the_makefile_and_ci():
    readme = (ROOT / "README.md").read_text()
    makefile = (ROOT / "Makefile").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make run" in readme and "make test" in readme
    assert "\nrun:" in makefile and "\ntest:" in makefile
    assert "make test" in ci


def test_docs_links_resolve():
    import re

    for doc in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        for target in re.findall(r"\]\(([^)#:]+\.md)\)", doc.read_text()):
            assert (doc.parent / target).exists(), f"{doc.name} links to missing {target}"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tour_commands(readme: str) -> list[str]:
    """The README tour's shell block, one command per entry (continuation lines joined)."""
    block = readme.split("## A five-minute tour", 1)[1].split("```sh\n", 1)[1].split("```")[0]
    commands, current = [], ""
    for line in block.splitlines():
        if not current and (not line.strip() or line.startswith("#")):
            continue
        current += line.split("  #")[0].rstrip() if not line.endswith("\\") else line[:-1]
        if not line.endswith("\\"):
            commands.append(current.strip())
            current = ""
    return commands


def test_the_readme_tour_works_as_written(tmp_path):
    """`make run`'s recipe, then every command of the README tour exactly as written (only the
    port differs: a free one, set as RETURNHUB_SERVER__PORT for `serve` and the tools alike),
    in a copy of the checkout's config."""
    import os
    import shutil
    import signal
    import subprocess
    import sys
    import time

    shutil.copytree(ROOT / "config", tmp_path / "config")
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "bin").symlink_to(Path(sys.executable).parent)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETURNHUB_")}
    env["RETURNHUB_SERVER__PORT"] = str(port)

    def sh(command: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", "-c", command.replace("localhost:8080",
                                                             f"localhost:{port}")],
                              cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=60, check=False)

    makefile = (ROOT / "Makefile").read_text()
    recipe = [line.strip().replace("$(BIN)", ".venv/bin") for line in
              makefile.split("\nrun:", 1)[1].split("\n\n", 1)[0].splitlines()[1:]]
    assert recipe[-1] == ".venv/bin/returnhub serve"
    for command in recipe[:-1]:
        assert sh(command).returncode == 0, command
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(["bash", "-c", f"exec {recipe[-1]}"], cwd=tmp_path, env=env,
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while f"listening on http://127.0.0.1:{port}" not in (tmp_path / "serve.log").read_text():
            assert server.poll() is None and time.monotonic() < deadline, \
                (tmp_path / "serve.log").read_text()
            time.sleep(0.05)
        sent, listing, again, printed, bad, simulated = _tour_commands(
            (ROOT / "README.md").read_text())
        first = sh(sent)
        assert first.returncode == 0 and first.stdout.startswith("202 "), first
        outbox = tmp_path / "data" / "outbox"
        while not (list(outbox.glob("*.eml")) and list(outbox.glob("*.sms.json"))):
            assert time.monotonic() < deadline, "no .eml and .sms.json in data/outbox"
            time.sleep(0.05)
        assert ".eml" in sh(listing).stdout
        duplicate = sh(again)
        assert duplicate.returncode == 0 and duplicate.stdout.startswith("200 "), duplicate
        assert '"duplicate"' in duplicate.stdout
        curl = sh(printed)
        assert curl.returncode == 0 and curl.stdout.startswith("curl "), curl
        assert '"accepted"' in sh(curl.stdout).stdout
        rejected = sh(bad)
        assert rejected.stdout.rstrip().endswith(" 401"), rejected.stdout
        assert "invalid_signature" in rejected.stdout
        simulation = sh(simulated)
        assert simulation.returncode == 0 and "--- email via outbox" in simulation.stdout
        signin = ".venv/bin/returnhub tokens create me --scope admin"
        assert f"`{signin}`" in (ROOT / "README.md").read_text()
        token = sh(signin)
        assert token.returncode == 0, token.stderr
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        log.close()
