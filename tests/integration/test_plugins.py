"""The plugin system: a real third-party distribution, misspelled hooks, disabling, clashes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hub.contract import Sink, hookimpl
from hub.plugins import PluginError, collect_connectors, describe_plugins, get_plugin_manager

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_SRC = ROOT / "tests" / "fixtures" / "thirdparty_plugin"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory) -> Path:
    """The example distribution installed with pip into its own site folder. pip builds in the
    source tree (build/, *.egg-info), so it builds a copy: test workers never share one."""
    site = tmp_path_factory.mktemp("site")
    build = tmp_path_factory.mktemp("build")
    source = shutil.copytree(PLUGIN_SRC, build / PLUGIN_SRC.name,
                             ignore=shutil.ignore_patterns("build", "*.egg-info"))
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(site), str(source)],
        check=True, cwd=build, env={**os.environ, "PIP_NO_INPUT": "1"}, timeout=180)
    assert (site / "returnhub_example").is_dir()
    return site


def run_cli(*args: str, site: Path, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(site), **env}
    environment.pop("RETURNHUB_CONFIG", None)
    return subprocess.run([str(BIN / "returnhub"), *args], capture_output=True, text=True,
                          cwd=cwd, env=environment, timeout=60, check=False)


def test_installed_third_party_plugin_is_listed_and_usable(plugin_site, tmp_path):
    listing = run_cli("plugins", site=plugin_site, cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    row = next(line for line in listing.stdout.splitlines() if line.startswith("example "))
    assert "returnhub-example-sink" in row and "1.2.3" in row and "jsonlines" in row
    bundled = next(line for line in listing.stdout.splitlines() if line.startswith("file "))
    assert "returnhub" in bundled  # bundled plugins come through the same entry points

    config = tmp_path / "hub.toml"
    config.write_text(f"""
data_dir = "{tmp_path / 'data'}"
[sinks.lines]
type = "jsonlines"
path = "{tmp_path / 'out.jsonl'}"
[channels.email]
providers = ["lines"]
""")
    check = run_cli("--config", str(config), "check", site=plugin_site, cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    assert "lines" in check.stdout

    disabled = run_cli("--config", str(config), "check", site=plugin_site, cwd=tmp_path,
                       RETURNHUB_PLUGINS__DISABLED='["example"]')
    assert disabled.returncode == 2
    assert "sinks.lines.type: unknown sink type 'jsonlines' (installed: file" in disabled.stderr


def test_misspelled_hook_fails_at_start_up():
    class Typo:
        @hookimpl
        def returnhub_register_conectors(self, register):  # noqa: ANN001, ANN201
            pass

    with pytest.raises(PluginError, match="returnhub_register_conectors"):
        get_plugin_manager(extra_plugins=[Typo()], load_entry_points=False)


def test_two_plugins_registering_one_type_is_an_error():
    class Dup(Sink):
        type = "file"
        channels = frozenset({"email"})

        async def send(self, message):  # noqa: ANN001, ANN201
            raise NotImplementedError

    class Clash:
        @hookimpl
        def returnhub_register_connectors(self, register):  # noqa: ANN001, ANN201
            register(Dup)

    pm = get_plugin_manager(extra_plugins=[Clash()])
    with pytest.raises(PluginError, match="registered by both"):
        collect_connectors(pm)


def test_disabled_bundled_plugin_is_not_loaded():
    pm = get_plugin_manager(disabled=["file"])
    names = [info.name for info in describe_plugins(pm)]
    assert "file" not in names and "standard_webhooks" in names
    assert "file" not in collect_connectors(pm).sinks


def test_every_hookspec_is_documented():
    from hub import hookspecs

    specs = [name for name in dir(hookspecs) if name.startswith("returnhub_")]
    assert len(specs) >= 5
    for name in specs:
        doc = getattr(hookspecs, name).__doc__ or ""
        assert len(doc.strip()) > 80, f"{name} needs a docstring a plugin author can work from"
    guide = (ROOT / "docs" / "plugin-guide.md").read_text()
    for name in specs:
        assert name in guide, f"docs/plugin-guide.md does not mention {name}"


def _distribution(site: Path, name: str, entry_points: str) -> None:
    """A distribution as pip would leave it: metadata and entry points on the path."""
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[returnhub]\n{entry_points}\n")


def test_a_plugin_name_two_distributions_declare_is_an_error_naming_both(tmp_path, monkeypatch):
    # Found from outside: pluggy loads the first "file" it finds and skips the other without a
    # word, so a scaffolded plugin named "file" silently replaced the bundled file sink.
    _distribution(tmp_path, "returnhub-file-probe", "file = returnhub_file")
    _distribution(tmp_path, "returnhub-portal-probe", "portal = returnhub_file")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError) as caught:
        get_plugin_manager()
    message = str(caught.value)
    assert "plugin name 'file' is declared by both returnhub and returnhub-file-probe" in message
    assert "plugin name 'portal' of returnhub-portal-probe is the hub's own" in message
    pm = get_plugin_manager(disabled=["file", "portal"])  # the admin may leave both out
    assert not pm.has_plugin("file")


def test_a_plugin_that_fails_to_import_is_named_with_its_distribution(tmp_path, monkeypatch):
    _distribution(tmp_path, "returnhub-broken", "broken = no_such_module_for_returnhub")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError) as caught:
        get_plugin_manager()
    assert "plugin 'broken' (returnhub-broken) failed to load: ModuleNotFoundError" \
        in str(caught.value)
    assert "plugins.disabled = ['broken']" in str(caught.value)
    assert get_plugin_manager(disabled=["broken"]).has_plugin("file")


def test_a_settings_validator_that_crashes_is_a_config_problem_naming_the_sink(tmp_path):
    from pydantic import field_validator

    from hub.config import ConfigError
    from hub.runtime import Hub
    from returnhub_file import FileSink
    from tests.conftest import make_settings

    class Strict(FileSink):
        type = "strict_file"

        class Config(FileSink.Config):
            @field_validator("directory")
            @classmethod
            def _check(cls, value):  # noqa: ANN001, ANN206
                raise TypeError("a bug in the plugin")

    class Plugin:
        @hookimpl
        def returnhub_register_connectors(self, register):  # noqa: ANN001, ANN201
            register(Strict)

    settings = make_settings(tmp_path, sinks={"outbox": {"type": "strict_file",
                                                         "directory": str(tmp_path)}})
    with pytest.raises(ConfigError) as caught:
        Hub.build(settings, get_plugin_manager(extra_plugins=[Plugin()]))
    assert any("sinks.outbox: the settings of 'strict_file' (Strict.Config) could not be "
               "checked: a validator raised TypeError" in p for p in caught.value.problems)


def test_register_connectors_is_called_as_pluggy_would_and_a_failure_names_the_plugin():
    # Found from outside by a plugin author: an implementation taking no argument crashed the
    # hub with a traceback (it was called with register= whatever it declared).
    class Silent:
        @hookimpl
        def returnhub_register_connectors(self):  # noqa: ANN201
            pass

    class Raising:
        @hookimpl
        def returnhub_register_connectors(self, register):  # noqa: ANN001, ANN201
            raise RuntimeError("cannot import its SDK")

    assert "file" in collect_connectors(get_plugin_manager(extra_plugins=[Silent()])).sinks
    pm = get_plugin_manager(extra_plugins=[Raising()])
    with pytest.raises(PluginError) as caught:
        collect_connectors(pm)
    [name] = [n for n, p in pm.list_name_plugin() if isinstance(p, Raising)]
    assert f"plugin {name!r}: returnhub_register_connectors raised RuntimeError: cannot " \
           "import its SDK" in str(caught.value)
