"""The plugin API version: a plugin's declared range is checked at load (issue 14)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING

import pytest

from hub.contract import PLUGIN_API_VERSION, hookimpl
from hub.plugin_api import api_problem
from hub.plugins import PluginError, describe_plugins, get_plugin_manager
from tests.integration.installed import install, run_cli

if TYPE_CHECKING:
    from pathlib import Path


def install_plugin(site: Path, name: str, api: str | None) -> None:
    """An installed plugin ``name`` declaring ``api`` (None: declaring nothing)."""
    declared = "" if api is None else f"RETURNHUB_API = {api!r}\n"
    install(site, name, f"from hub.contract import hookimpl\n{declared}\n"
            "@hookimpl\ndef returnhub_register_connectors(register):\n    pass\n")


def test_the_hub_provides_1_1_0():
    assert PLUGIN_API_VERSION == "1.1.0"


@pytest.mark.parametrize("declared", [">=1.0,<2", "~=1.0", ">=1", "==1.*"])
def test_a_range_including_the_version_loads(declared):
    plugin = SimpleNamespace(RETURNHUB_API=declared)
    assert api_problem("mine", plugin, None, required=True) is None


def test_a_range_excluding_the_version_names_plugin_range_and_version():
    problem = api_problem("future", SimpleNamespace(RETURNHUB_API=">=2.0,<3"), None,
                          required=True)
    assert problem is not None
    assert "'future'" in problem and "'>=2.0,<3'" in problem and "1.1.0" in problem


@pytest.mark.parametrize("declared", ["1.0 or later", "", 2, "=>1.0"])
def test_a_malformed_range_is_refused(declared):
    problem = api_problem("odd", SimpleNamespace(RETURNHUB_API=declared), None, required=True)
    assert problem is not None and "'odd'" in problem and "RETURNHUB_API" in problem


def test_a_missing_range_is_refused_only_when_required():
    assert "declares no plugin API range" in api_problem("bare", object(), None, required=True)
    assert api_problem("bare", object(), None, required=False) is None


def test_every_bundled_plugin_declares_a_range_that_loads():
    pm = get_plugin_manager()  # raises PluginError if one did not
    bundled = [info.name for info in describe_plugins(pm) if info.distribution == "returnhub"]
    assert len(bundled) >= 10
    for name in bundled:
        assert api_problem(name, pm.get_plugin(name), None, required=True) is None


def test_a_registered_plugin_object_with_a_wrong_range_is_refused():
    class Old:
        RETURNHUB_API = "<1"

        @hookimpl
        def returnhub_register_connectors(self, register):  # noqa: ANN001, ANN201
            pass

    with pytest.raises(PluginError, match=r"API '<1' but this hub provides 1\.1\.0"):
        get_plugin_manager(extra_plugins=[Old()], load_entry_points=False)


def test_an_installed_plugin_for_another_api_stops_check_and_serve(tmp_path):
    site = tmp_path / "site"
    install_plugin(site, "future", ">=2.0,<3")
    install_plugin(site, "legacy", None)
    install_plugin(site, "current", ">=1.0,<2")
    config = tmp_path / "hub.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n')
    for command in (["check"], ["serve", "--port", "0"]):
        result = run_cli("--config", str(config), *command, site=site, cwd=tmp_path)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert ("plugin 'future' (returnhub-future 0.1) supports plugin API '>=2.0,<3' but "
                "this hub provides 1.1.0") in result.stderr
        assert "plugin 'legacy' (returnhub-legacy 0.1) declares no plugin API range" \
            in result.stderr
        assert "'current'" not in result.stderr


def test_disabling_the_mismatching_plugin_lets_the_hub_start(tmp_path):
    site = tmp_path / "site"
    install_plugin(site, "future", ">=2.0,<3")
    config = tmp_path / "hub.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n[plugins]\ndisabled = ["future"]\n')
    result = run_cli("--config", str(config), "check", site=site, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
