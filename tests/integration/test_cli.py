"""The `returnhub` command: check, init, simulate, webhook send, db upgrade."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hub.store.migrate import head_revision  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def run(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, **env}
    environment.pop("RETURNHUB_CONFIG", None)
    return subprocess.run([str(BIN / "returnhub"), *args], capture_output=True, text=True,
                          cwd=cwd, env=environment, timeout=60, check=False)


def checkout_copy(tmp_path: Path) -> Path:
    """The embedded default config and templates path, in a scratch working directory."""
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "returnhub.toml").write_text(
        (ROOT / "config" / "returnhub.toml").read_text())
    return tmp_path


def test_fresh_checkout_init_then_check(tmp_path):
    cwd = checkout_copy(tmp_path)
    before = run("check", cwd=cwd)
    assert before.returncode == 2
    assert "sources.demo.secret_file: cannot read" in before.stderr
    assert "returnhub init" in before.stderr
    init = run("init", cwd=cwd)
    assert init.returncode == 0, init.stderr
    secret = (cwd / "data/secrets/demo-source.secret").read_text().strip()
    assert secret.startswith("whsec_")
    assert oct((cwd / "data/secrets/pii.key").stat().st_mode)[-3:] == "600"
    after = run("check", cwd=cwd)
    assert after.returncode == 0, after.stderr
    assert "sources demo; sinks outbox, portal" in after.stdout
    assert run("init", cwd=cwd).returncode == 0  # idempotent
    assert (cwd / "data/secrets/demo-source.secret").read_text().strip() == secret


def test_check_reports_every_problem_and_exits_2(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text("""
[sources.shop]
type = "shopfy"
[sinks.mail]
type = "file"
directory = 3
colour = "blue"
""")
    result = run("--config", str(config), "check", cwd=tmp_path)
    assert result.returncode == 2
    assert "invalid configuration (3 problems)" in result.stderr
    assert "sources.shop.type: unknown source type 'shopfy' (installed:" in result.stderr
    assert "sinks.mail.directory:" in result.stderr
    assert "sinks.mail.colour: unknown setting" in result.stderr


def test_simulate_prints_what_would_be_sent_and_sends_nothing(tmp_path):
    cwd = checkout_copy(tmp_path)
    run("init", cwd=cwd)
    result = run("simulate", str(ROOT / "config/examples/events/approved.json"), cwd=cwd)
    assert result.returncode == 0, result.stderr
    assert "--- email via outbox" in result.stdout
    assert "Subject: Your return R-1001 is approved" in result.stdout
    assert "--- sms via outbox" in result.stdout
    assert not (cwd / "data/outbox").exists() or not any((cwd / "data/outbox").iterdir())


def test_webhook_send_prints_a_signed_curl(tmp_path):
    cwd = checkout_copy(tmp_path)
    run("init", cwd=cwd)
    result = run("webhook", "send", str(ROOT / "config/examples/events/approved.json"),
                 "--source", "demo", "--print-curl", cwd=cwd)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("curl ") and "webhook-signature: v1," in result.stdout


def test_db_upgrade(tmp_path):
    cwd = checkout_copy(tmp_path)
    run("init", cwd=cwd)
    result = run("db", "upgrade", cwd=cwd)
    assert result.returncode == 0, result.stderr
    assert f"revision {head_revision()}" in result.stdout


def test_status_shows_queues_and_breakers(tmp_path):
    cwd = checkout_copy(tmp_path)
    run("init", cwd=cwd)
    run("db", "upgrade", cwd=cwd)
    import asyncio

    from hub.config import load_settings
    from hub.store.engine import make_engine, make_sessionmaker, utcnow
    from hub.store.models import ProviderHealth

    async def open_breaker() -> None:
        settings = load_settings(cwd / "config" / "returnhub.toml")
        engine = make_engine(str(settings.database_url).replace("data/", f"{cwd}/data/", 1))
        async with make_sessionmaker(engine)() as session, session.begin():
            session.add(ProviderHealth(provider="outbox", state="open", consecutive_failures=5,
                                       last_error="[outbox] disk full", updated_at=utcnow(),
                                       node="node-1"))
        await engine.dispose()

    asyncio.run(open_breaker())
    result = run("status", cwd=cwd)
    assert result.returncode == 0, result.stderr
    assert "provider outbox: open (failures 5" in result.stdout
    assert "disk full" in result.stdout


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_webhook_send_to_an_unreachable_hub_says_so_in_one_line(tmp_path):
    cwd = checkout_copy(tmp_path)
    run("init", cwd=cwd)
    port = str(free_port())  # nothing listens there
    result = run("webhook", "send", str(ROOT / "config/examples/events/approved.json"),
                 "--source", "demo", cwd=cwd, RETURNHUB_SERVER__PORT=port)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1
    assert result.stderr.startswith(
        f"returnhub: cannot reach the hub at http://127.0.0.1:{port}/webhooks/demo: ")


def test_webhook_send_posts_where_serve_listens_not_to_the_public_url(tmp_path):
    """`serve` binds server.host:server.port (file, then RETURNHUB_SERVER__*); the public URL
    is what platforms use from outside (a proxy, a tunnel), so the local tool must not."""
    cwd = checkout_copy(tmp_path)
    run("init", cwd=cwd)
    event = str(ROOT / "config/examples/events/approved.json")
    result = run("webhook", "send", event, "--source", "demo", "--print-curl", cwd=cwd,
                 RETURNHUB_SERVER__PUBLIC_URL="https://returns.example.invalid",
                 RETURNHUB_SERVER__HOST="0.0.0.0", RETURNHUB_SERVER__PORT="9321")  # noqa: S104
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith(" http://127.0.0.1:9321/webhooks/demo")


def test_init_creates_the_portal_key_like_the_other_secrets(tmp_path):
    cwd = checkout_copy(tmp_path)
    result = run("init", cwd=cwd)
    assert result.returncode == 0, result.stderr
    for name in ("portal.key", "pii.key", "lookup.key", "demo-source.secret"):
        path = cwd / "data/secrets" / name
        assert oct(path.stat().st_mode)[-3:] == "600", name
        assert f"created {path}" in result.stdout
    key = (cwd / "data/secrets/portal.key").read_text()
    assert len(key.strip()) >= 32
    assert run("init", cwd=cwd).returncode == 0
    assert (cwd / "data/secrets/portal.key").read_text() == key  # never overwritten


def test_a_data_dir_from_the_environment_moves_secrets_and_outbox(tmp_path, monkeypatch):
    cwd = checkout_copy(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    init = run("init", cwd=cwd, RETURNHUB_DATA_DIR=str(elsewhere))
    assert init.returncode == 0, init.stderr
    assert (elsewhere / "secrets/demo-source.secret").read_text().startswith("whsec_")
    assert (elsewhere / "secrets/portal.key").exists()
    assert not (cwd / "data").exists()
    check = run("check", cwd=cwd, RETURNHUB_DATA_DIR=str(elsewhere))
    assert check.returncode == 0, check.stderr

    from hub.config import load_settings

    monkeypatch.setenv("RETURNHUB_DATA_DIR", str(elsewhere))
    settings = load_settings(cwd / "config/returnhub.toml")
    assert settings.sinks["outbox"]["directory"] == f"{elsewhere}/outbox"
    assert settings.sources["demo"]["secret_file"] == f"{elsewhere}/secrets/demo-source.secret"
    assert settings.database_url.endswith(f"{elsewhere}/returnhub.db")


def test_status_without_a_reachable_database_says_so_in_one_line(tmp_path):
    cwd = checkout_copy(tmp_path)
    run("init", cwd=cwd)
    url = f"postgresql+asyncpg://returnhub:s3cret-pw@127.0.0.1:{free_port()}/returnhub"
    result = run("status", cwd=cwd, RETURNHUB_DATABASE__URL=url)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1
    assert result.stderr.startswith("returnhub: cannot read the database at "
                                    "postgresql+asyncpg://returnhub:***@127.0.0.1:")
    assert "s3cret-pw" not in result.stderr


def test_what_the_world_refuses_at_start_is_one_line_not_a_traceback(tmp_path):
    # Found from outside by an admin: each of these printed a traceback (130 lines for the
    # database), and the environment variable exited 1 without naming what was wrong.
    cwd = checkout_copy(tmp_path)
    run("init", cwd=cwd)
    url = f"postgresql+asyncpg://returnhub:s3cret-pw@127.0.0.1:{free_port()}/returnhub"
    for args in (("db", "upgrade"), ("tokens", "list"), ("serve", "--processes", "1")):
        result = run(*args, cwd=cwd, RETURNHUB_DATABASE__URL=url)
        assert result.returncode == 1, (args, result.stderr[-500:])
        assert "Traceback" not in result.stderr and "s3cret-pw" not in result.stderr
        assert result.stderr.splitlines()[-1].startswith(
            "returnhub: cannot use the database at postgresql+asyncpg://returnhub:***@"), args
    (tmp_path / "afile").write_text("")
    folder = run("serve", "--processes", "1", "--port", str(free_port()), cwd=cwd,
                 RETURNHUB_SINKS__OUTBOX__DIRECTORY=str(tmp_path / "afile" / "outbox"))
    assert folder.returncode == 1 and "Traceback" not in folder.stderr
    assert folder.stderr.splitlines()[-1] == (
        f"returnhub: NotADirectoryError: Not a directory: {tmp_path / 'afile' / 'outbox'}")
    assert "Unclosed client session" not in folder.stderr
    env = run("check", cwd=cwd, RETURNHUB_PLUGINS__DISABLED="file")
    assert env.returncode == 2 and "Traceback" not in env.stderr
    assert 'error parsing value for field "plugins"' in env.stderr


async def test_preview_and_simulate_render_with_templates_saved_through_the_api(tmp_path):
    # Found from outside by an admin: after PUT /api/templates/files/approved/sms.txt.j2 the
    # hub sent the new text, but `templates preview` and `simulate` showed the bundled one.
    from hub.store.engine import make_engine, make_sessionmaker
    from hub.store.migrate import upgrade
    from hub.store.template_store import add_revision

    cwd = checkout_copy(tmp_path)
    run("init", cwd=cwd)
    url = f"sqlite+aiosqlite:///{cwd / 'data' / 'returnhub.db'}"
    engine = make_engine(url)
    try:
        await upgrade(engine)
        async with make_sessionmaker(engine)() as session, session.begin():
            add_revision(session, "approved/sms.txt.j2",
                         "CUSTOM {{ brand.store_name }}: return {{ return.reference }} ok.", "ops")
    finally:
        await engine.dispose()
    env = {"RETURNHUB_DATABASE__URL": url}
    preview = run("templates", "preview", "approved", "--channel", "sms", cwd=cwd, **env)
    assert preview.returncode == 0, preview.stderr
    assert "CUSTOM Demo Store: return R-1001 ok." in preview.stdout
    simulated = run("simulate", str(ROOT / "config/examples/events/approved.json"), cwd=cwd,
                    **env)
    assert simulated.returncode == 0, simulated.stderr
    assert "CUSTOM Demo Store: return R-1001 ok." in simulated.stdout
    fresh = run("templates", "preview", "approved", "--channel", "sms", cwd=cwd,
                RETURNHUB_DATABASE__URL=f"sqlite+aiosqlite:///{tmp_path / 'none.db'}")
    assert fresh.returncode == 0 and "CUSTOM" not in fresh.stdout
    assert not (tmp_path / "none.db").exists()  # asking created no database
