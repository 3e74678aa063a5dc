"""``returnhub plugin new sink|source NAME`` writes a distribution that passes its own tests out
of the box: generated into a temporary folder, pip-installed into a fresh venv, listed by
``returnhub plugins``, its contract test run by pytest."""

from __future__ import annotations

import ast
import time

import pytest

from hub.cli import main
from hub.scaffold import plugin_files
from tests.plugin_venv import FreshVenv


@pytest.mark.parametrize(("kind", "name", "dist", "suite"), [
    ("sink", "team_chat", "returnhub-team-chat", "TestTeamChatContract"),
    ("source", "acme_erp", "returnhub-acme-erp", "TestAcmeErpContract"),
])
def test_a_new_plugin_installs_lists_and_passes_its_own_tests(tmp_path, capsys, kind, name,
                                                              dist, suite) -> None:
    started = time.monotonic()
    assert main(["plugin", "new", kind, name, "--directory", str(tmp_path)]) == 0
    project = tmp_path / name
    assert "pip install" in capsys.readouterr().out
    venv = FreshVenv(tmp_path / "venv")
    installed = venv.pip_install(project)
    assert installed.returncode == 0, installed.stderr

    listing = venv.returnhub("plugins", cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    row = next(line for line in listing.stdout.splitlines() if line.startswith(f"{name} "))
    assert dist in row and "0.1.0" in row

    # The tests run against the installed copy, from the project folder (no sys.path tricks).
    tests = venv.run_python("-m", "pytest", "-q", "-p", "no:cacheprovider", "tests",
                            cwd=project)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert " passed" in tests.stdout and "failed" not in tests.stdout
    assert suite in venv.run_python(
        "-m", "pytest", "--collect-only", "-q", "tests", cwd=project).stdout
    assert time.monotonic() - started < 60


@pytest.mark.parametrize("kind", ["sink", "source"])
def test_the_plugin_module_imports_only_the_contract(kind) -> None:
    tree = ast.parse(plugin_files(kind, "slack")["returnhub_slack/__init__.py"])
    modules = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    modules |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    assert {m for m in modules if m.split(".")[0] == "hub"} == {"hub.contract"}
    declared = {node.targets[0].id: node.value.value for node in tree.body
                if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)}
    assert declared["RETURNHUB_API"] == ">=1.0,<2"


def test_a_bad_name_or_a_used_folder_is_refused(tmp_path, capsys) -> None:
    assert main(["plugin", "new", "sink", "Team-Chat", "--directory", str(tmp_path)]) == 2
    assert "'Team-Chat' is not a plugin name" in capsys.readouterr().err
    (tmp_path / "slack").mkdir()
    (tmp_path / "slack" / "keep.txt").write_text("mine")
    assert main(["plugin", "new", "sink", "slack", "--directory", str(tmp_path)]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "slack").iterdir()] == ["keep.txt"]
    for taken in ("file", "portal"):  # a bundled plugin's name, and the hub's own
        assert main(["plugin", "new", "sink", taken, "--directory", str(tmp_path)]) == 2
        assert f"'{taken}' is the name of an installed plugin (returnhub)" \
            in capsys.readouterr().err
        assert not (tmp_path / taken).exists()
