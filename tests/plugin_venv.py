"""A fresh virtual environment for installing a plugin distribution the way its author would.

Building one with every dependency from PyPI takes minutes, so the fresh venv reuses this
checkout's environment underneath (a ``.pth`` that adds its site-packages, as
``--system-site-packages`` would for the base interpreter): only the plugin is installed new,
with pip, into the fresh venv's own site-packages.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path


class FreshVenv:
    """A venv at ``path`` that sees the hub's installed packages and holds what it installs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True,
                       timeout=60)
        self.python = path / "bin" / "python"
        own = self.run_python("-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
        parent = sysconfig.get_paths()["purelib"]
        (Path(own.stdout.strip()) / "_returnhub_checkout.pth").write_text(
            f"import site; site.addsitedir({parent!r})\n", encoding="utf-8")

    def env(self) -> dict[str, str]:
        """The environment to run in: no RETURNHUB_* from the caller, no PYTHONPATH."""
        return {k: v for k, v in os.environ.items()
                if not k.startswith("RETURNHUB_") and k != "PYTHONPATH"}

    def run_python(self, *args: str, cwd: Path | None = None, timeout: float = 120
                   ) -> subprocess.CompletedProcess:
        """Run the venv's python with ``args``."""
        return subprocess.run([str(self.python), *args], cwd=cwd, env=self.env(),
                              capture_output=True, text=True, timeout=timeout, check=False)

    def pip_install(self, source: Path) -> subprocess.CompletedProcess:
        """``pip install source`` into this venv (its dependencies are already visible)."""
        return subprocess.run(
            [sys.executable, "-m", "pip", "--python", str(self.python), "install", "--quiet",
             "--no-deps", "--no-build-isolation", str(source)],
            env={**self.env(), "PIP_NO_INPUT": "1"}, capture_output=True, text=True,
            timeout=180, check=False)

    def returnhub(self, *args: str, cwd: Path) -> subprocess.CompletedProcess:
        """The ``returnhub`` command run by this venv's python."""
        return self.run_python("-m", "hub.cli", *args, cwd=cwd)
