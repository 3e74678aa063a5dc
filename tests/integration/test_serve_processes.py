"""``returnhub serve`` on several processes: one port answered by every process, events
delivered once, children that die with the parent (even under kill -9) and a clean SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from hub.config import ConfigError, load_settings
from hub.serve import share_rate_limits
from hub.supervisor import cgroup_cpu_quota, cores, resolve_processes
from hub.testing.factories import event_payload
from tests.conftest import TEST_SECRET, signed_headers, wait_for

BIN = Path(sys.executable).parent
SQLITE = "sqlite+aiosqlite:///hub.db"
POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1/test"


def test_process_count_resolution():
    assert resolve_processes("auto", None, POSTGRES) == cores()
    assert resolve_processes(0, None, POSTGRES) == cores()
    assert resolve_processes("auto", None, SQLITE) == cores()  # docs/performance.md
    assert resolve_processes("auto", None, "sqlite+aiosqlite:///:memory:") == 1
    assert resolve_processes("auto", None, "sqlite+aiosqlite://") == 1  # empty path: memory
    assert resolve_processes("auto", None, "sqlite+aiosqlite:///file:m?mode=memory&uri=true") == 1
    assert resolve_processes("auto", 3, SQLITE) == 3  # --processes wins over the setting
    assert resolve_processes(2, None, SQLITE) == 2
    assert resolve_processes(4, 1, POSTGRES) == 1
    with pytest.raises(ConfigError):
        resolve_processes(-1, None, POSTGRES)


def _config(tmp_path: Path, db_url: str) -> Path:
    config = tmp_path / "hub.toml"
    config.write_text(f"""
data_dir = "{tmp_path / 'data'}"
[server]
port = 0
processes = 2
[database]
url = "{db_url}"
[logging]
format = "json"
[worker]
idle_poll_seconds = 0.05
[sources.shop]
type = "standard_webhooks"
secret = "{TEST_SECRET}"
[sinks.outbox]
type = "file"
directory = "{tmp_path / 'outbox'}"
[channels.email]
providers = ["outbox"]
[notifications.stages.approved]
channels = ["email"]
""")
    return config


def _children(pid: int) -> list[int]:
    """The live (not yet reaped, not zombie) children of ``pid``."""
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        found += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    return [child for child in found if _alive(child)]


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie has died: it only waits to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def _serve(config: Path, log: Path) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([str(BIN / "returnhub"), "--config", str(config), "serve",
                                "--processes", "2"],
                               stdout=subprocess.PIPE, stderr=log.open("a"), text=True)
    line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 60)
    match = re.search(r"listening on (http://\S+) \((\d+) processes\)", line)
    assert match, f"serve did not start: {line!r}\n{log.read_text()[-2000:]}"
    assert match.group(2) == "2"
    return process, match.group(1)


async def _pids_answering(url: str, attempts: int = 200) -> set[int]:
    """The pids behind /healthz over new connections, until two answered (bounded)."""
    pids: set[int] = set()
    for _ in range(attempts):
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)
                                         ) as session, session.get(f"{url}/healthz") as response:
            pids.add((await response.json())["pid"])
        if len(pids) == 2:
            break
    return pids


async def test_two_processes_share_one_port_and_die_with_a_killed_parent(tmp_path, db_url):
    process, url = await _serve(_config(tmp_path, db_url), tmp_path / "serve.log")
    try:
        children = _children(process.pid)
        assert len(children) == 2
        assert await _pids_answering(url) == set(children)  # both answer on the one port
        async with aiohttp.ClientSession() as session:
            for n in range(20):
                body = json.dumps(event_payload("return.approved", f"R-procs-{n}")).encode()
                async with session.post(f"{url}/webhooks/shop", data=body,
                                        headers=signed_headers(body)) as response:
                    assert response.status == 202
        await wait_for(lambda: len(list((tmp_path / "outbox").glob("*.eml"))) == 20,
                       timeout=60)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        await wait_for(lambda: not any(_alive(child) for child in children), timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


async def test_sigterm_stops_every_process_cleanly(tmp_path, db_url):
    log = tmp_path / "serve.log"
    process, _url = await _serve(_config(tmp_path, db_url), log)
    try:
        children = _children(process.pid)
        assert len(children) == 2
        process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(process.wait, 60) == 0
        assert not any(_alive(child) for child in children)
        stops = [json.loads(line) for line in log.read_text().splitlines()
                 if '"shutting_down"' in line]
        assert len(stops) == 2  # each child stopped its hub (sends finished, outcomes written)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


async def test_a_child_that_dies_stops_the_others(tmp_path, db_url):
    process, _url = await _serve(_config(tmp_path, db_url), tmp_path / "serve.log")
    try:
        first, second = _children(process.pid)
        os.kill(first, signal.SIGKILL)
        assert await asyncio.to_thread(process.wait, 60) != 0
        assert not _alive(second)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_a_container_cpu_quota_caps_the_cores(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpu_quota(tmp_path) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_quota(tmp_path) is None
    (tmp_path / "cpu.max").unlink()
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("200000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_quota(tmp_path) == 2.0
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert cgroup_cpu_quota(tmp_path) is None


def test_each_process_gets_its_share_of_the_rate_limits(tmp_path):
    settings = load_settings(_config(tmp_path, SQLITE))
    settings.sources["shop"]["rate_limit_per_second"] = 100
    settings.sources["shop"]["rate_limit_burst"] = 40
    settings.sinks["outbox"]["rate_limit_per_second"] = 10
    share_rate_limits(settings, 4)
    assert settings.sources["shop"]["rate_limit_per_second"] == 25
    assert settings.sources["shop"]["rate_limit_burst"] == 10
    assert settings.sinks["outbox"]["rate_limit_per_second"] == 2.5
    assert "rate_limit_per_second" not in settings.sinks.get("missing", {})


def test_a_broken_configuration_stops_serve_before_it_migrates(tmp_path):
    config = _config(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
    config.write_text(config.read_text().replace('type = "file"', 'type = "no-such-sink"'))
    done = subprocess.run([str(BIN / "returnhub"), "--config", str(config), "serve",
                           "--processes", "2"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode != 0
    # The shared database was left alone: not created, so not migrated.
    assert not (tmp_path / "hub.db").exists()
