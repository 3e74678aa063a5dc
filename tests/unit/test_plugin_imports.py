"""Plugins import the hub only through its public contract (issue 14).

Every module under ``plugins/`` is parsed (not imported, so a conditional or ``TYPE_CHECKING``
import counts too); an import of ``hub`` or ``hub.<anything>`` other than ``hub.contract`` and
``hub.contract.testing`` fails, naming the module and the import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import hub.contract

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
ALLOWED = frozenset({"hub.contract", "hub.contract.testing"})


def hub_imports(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) for every import of hub or a hub submodule in ``tree``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
            if node.module == "hub":  # `from hub import contract` is hub.contract
                modules = [f"hub.{alias.name}" for alias in node.names]
        else:
            continue
        found += [(node.lineno, m) for m in modules if m == "hub" or m.startswith("hub.")]
    return found


def forbidden_imports(root: Path) -> list[str]:
    """``path:line imports module`` for every import under ``root`` outside the contract."""
    problems = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        problems += [f"{path.relative_to(root)}:{line} imports {module}"
                     for line, module in hub_imports(tree) if module not in ALLOWED]
    return problems


def test_plugins_import_only_the_contract() -> None:
    assert sorted(PLUGINS.glob("returnhub_*/__init__.py")), "no plugin found"
    assert forbidden_imports(PLUGINS) == []


def test_the_check_names_the_module_and_the_import(tmp_path: Path) -> None:
    package = tmp_path / "returnhub_bad"
    package.mkdir()
    (package / "__init__.py").write_text("from hub.contract import Sink\n")
    (package / "sink.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "import hub.store.models\n"
        "from hub import hookimpl\n"
        "from hub import contract\n"
        "if TYPE_CHECKING:\n"
        "    from hub.delivery.dispatcher import Dispatcher\n")
    assert forbidden_imports(tmp_path) == [
        "returnhub_bad/sink.py:2 imports hub.store.models",
        "returnhub_bad/sink.py:3 imports hub.hookimpl",
        "returnhub_bad/sink.py:6 imports hub.delivery.dispatcher",
    ]


def test_every_contract_name_is_importable() -> None:
    missing = [name for name in hub.contract.__all__ if not hasattr(hub.contract, name)]
    assert missing == []
