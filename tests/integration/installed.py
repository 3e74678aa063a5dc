"""Install a throw-away plugin distribution into a site folder and run ``returnhub`` with it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def install(site: Path, name: str, source: str) -> None:
    """An installed distribution ``returnhub-<name>`` 0.1 with entry point ``name`` pointing at
    package ``returnhub_<name>`` whose ``__init__.py`` is ``source`` (what pip leaves in a site
    folder: the package and its .dist-info, found by importlib.metadata)."""
    package = site / f"returnhub_{name}"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(source)
    info = site / f"returnhub_{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: returnhub-{name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[returnhub]\n{name} = returnhub_{name}\n")


def run_cli(*args: str, site: Path, cwd: Path) -> subprocess.CompletedProcess:
    """``returnhub *args`` with ``site`` on the path and no inherited config."""
    environment = {**os.environ, "PYTHONPATH": str(site)}
    environment.pop("RETURNHUB_CONFIG", None)
    return subprocess.run([str(BIN / "returnhub"), *args], capture_output=True, text=True,
                          cwd=cwd, env=environment, timeout=60, check=False)
