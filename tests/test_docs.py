"""The docs stay true: every setting and hook is documented, the example config is valid."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from hub import hookspecs
from hub.config import ChannelSettings, Settings, StageSettings

ROOT = Path(__file__).resolve().parents[1]


def _fields(model: type[BaseModel]) -> set[str]:
    names = set()
    for name, field in model.model_fields.items():
        names.add(name)
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= _fields(annotation)
    return names


def test_every_setting_is_in_the_configuration_reference():
    reference = (ROOT / "docs" / "configuration.md").read_text()
    for name in _fields(Settings) | _fields(ChannelSettings) | _fields(StageSettings):
        documented = f"`{name}`" in reference or f"[{name}]" in reference \
            or f".{name}]" in reference
        assert documented, f"docs/configuration.md does not document {name}"


def test_every_hook_is_in_the_plugin_guide():
    guide = (ROOT / "docs" / "plugin-guide.md").read_text()
    for name in (n for n in dir(hookspecs) if n.startswith("returnhub_")):
        assert name in guide


def test_readme_commands_match_the_makefile_and_ci():
    readme = (ROOT / "README.md").read_text()
    makefile = (ROOT / "Makefile").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make run" in readme and "make test" in readme
    assert "\nrun:" in makefile and "\ntest:" in makefile
    assert "make test" in ci


def test_docs_links_resolve():
    import re

    for doc in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        for target in re.findall(r"\]\(([^)#:]+\.md)\)", doc.read_text()):
            assert (doc.parent / target).exists(), f"{doc.name} links to missing {target}"
