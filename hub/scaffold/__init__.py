"""``returnhub plugin new sink|source NAME``: a minimal plugin distribution that passes its own
tests.

It writes ``./NAME`` with a ``pyproject.toml`` (the ``returnhub`` entry point), the plugin
module and a test running the shipped conformance suite: for a sink, a webhook sink for the new
channel ``NAME`` on :class:`hub.contract.HttpSink` tested by
:class:`~hub.contract.testing.HttpSinkContract` against a local fake; for a source, a signed
JSON webhook source tested by :class:`~hub.contract.testing.SourceContract`.
docs/plugin-guide.md walks through the same files (the docs test checks they are identical).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from hub.plugins import INTERNAL_PLUGINS, entry_point_owners

#: A plugin name: the channel, the sink type and the entry-point name at once.
NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
_TEMPLATES = Path(__file__).resolve().parent


class ScaffoldError(ValueError):
    """The name or the target folder cannot be used (the message says why)."""


@dataclass(frozen=True, slots=True)
class Names:
    """The names one plugin name gives: ``slack`` -> returnhub-slack, returnhub_slack, Slack."""

    name: str

    @property
    def package(self) -> str:
        """The import package, e.g. ``returnhub_slack``."""
        return f"returnhub_{self.name}"

    @property
    def dashed(self) -> str:
        """The distribution name after ``returnhub-``, e.g. ``slack`` or ``team-chat``."""
        return self.name.replace("_", "-")

    @property
    def cls(self) -> str:
        """The class name prefix, e.g. ``Slack`` or ``TeamChat``."""
        return "".join(part.capitalize() for part in self.name.split("_") if part)

    def fill(self, template: str) -> str:
        """``template`` with the placeholders replaced."""
        for key, value in (("__PACKAGE__", self.package), ("__DASHED__", self.dashed),
                           ("__CLASS__", self.cls), ("__NAME__", self.name)):
            template = template.replace(key, value)
        return template


#: The files of each kind of plugin: path in the distribution -> template.
_LAYOUTS = {
    "sink": {"__PACKAGE__/__init__.py": "sink_plugin.py.txt",
             "tests/test_contract.py": "sink_test.py.txt"},
    "source": {"__PACKAGE__/__init__.py": "source_plugin.py.txt",
               "tests/test_contract.py": "source_test.py.txt"},
}
_COMMON = {"pyproject.toml": "pyproject.toml.txt", "tests/conftest.py": "conftest.py.txt"}


def plugin_files(kind: str, name: str) -> dict[str, str]:
    """The files of a new ``kind`` (``sink`` or ``source``) plugin called ``name``: relative
    path -> text."""
    if not NAME.fullmatch(name):
        raise ScaffoldError(f"{name!r} is not a plugin name: use lower-case letters, digits "
                            "and '_', starting with a letter (it is also the channel name)")
    names = Names(name)
    layout = {**_COMMON, **_LAYOUTS[kind]}
    return {names.fill(path): names.fill((_TEMPLATES / template).read_text(encoding="utf-8"))
            for path, template in layout.items()}


def sink_files(name: str) -> dict[str, str]:
    """The files of a new sink plugin called ``name``."""
    return plugin_files("sink", name)


def write_plugin(kind: str, name: str, parent: Path) -> Path:
    """Write the ``kind`` plugin ``name`` into ``parent/name``; refuses a non-empty folder."""
    files = plugin_files(kind, name)
    taken = entry_point_owners().get(name) or (["returnhub"] if name in INTERNAL_PLUGINS else [])
    if taken:  # the hub refuses to start with two plugins of one name
        raise ScaffoldError(f"{name!r} is the name of an installed plugin ({', '.join(taken)}): "
                            "choose another")
    target = parent / name
    if target.exists() and any(target.iterdir()):
        raise ScaffoldError(f"{target} exists and is not empty")
    for relative, text in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return target
