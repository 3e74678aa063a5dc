"""The domain is pure: ``hub/domain/`` and the rules' decision modules import no SQLAlchemy,
no aiohttp, and nothing of the store, the web app, processing or delivery (parsed, not
imported, so a ``TYPE_CHECKING`` import counts too)."""

from __future__ import annotations

import ast
from pathlib import Path

HUB = Path(__file__).resolve().parents[2] / "hub"
PURE = [*sorted((HUB / "domain").glob("*.py")),
        *(HUB / "rules" / name for name in ("context.py", "engine.py", "model.py")),
        HUB / "notifiable.py", HUB / "events.py"]
FORBIDDEN = ("sqlalchemy", "aiohttp", "hub.store", "hub.web", "hub.processing", "hub.delivery",
             "hub.content")


def imports(path: Path) -> list[str]:
    """Every module ``path`` imports (absolute imports)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(node.module)
    return found


def test_the_domain_imports_no_storage_http_or_outer_layer():
    problems = [f"{path.relative_to(HUB.parent)} imports {module}"
                for path in PURE for module in imports(path)
                if any(module == f or module.startswith(f + ".") for f in FORBIDDEN)]
    assert problems == []
