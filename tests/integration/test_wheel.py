"""The hub's wheel holds what an installed hub needs beside its code: the bundled message
templates. Found from outside by a plugin author: ``pip install returnhub`` from the wheel
left ``templates/`` behind (it is beside the package in a checkout), so ``returnhub check``
failed at step 6 of the plugin guide."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_carries_every_bundled_template(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    for folder in ("hub", "plugins", "templates"):  # pip builds in the tree: build a copy
        shutil.copytree(ROOT / folder, source / folder, symlinks=True, ignore=ignore)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "-w", str(tmp_path / "dist"), str(source)],
                   check=True, cwd=tmp_path, timeout=300,
                   env={**os.environ, "PIP_NO_INPUT": "1"})
    [wheel] = (tmp_path / "dist").glob("returnhub-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        packed = {name.removeprefix("hub/bundled_templates/") for name in archive.namelist()
                  if name.startswith("hub/bundled_templates/")}
    shipped = {path.relative_to(ROOT / "templates").as_posix()
               for path in (ROOT / "templates").rglob("*.j2")}
    assert shipped and packed == shipped
