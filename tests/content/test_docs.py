"""docs/templates.md stays true: every context variable, filter, stage and limit is there."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from hub.config import Settings
from hub.content.filters import FILTERS
from hub.content.limits import RenderLimits
from hub.content.samples import sample_context
from tests.content.support import STAGES

DOC = (Path(__file__).resolve().parents[2] / "docs" / "templates.md").read_text()


def names(context: dict, prefix: str = "") -> set[str]:
    found = set()
    for key, value in context.items():
        found.add(f"{prefix}{key}")
        if isinstance(value, dict) and key not in ("dropoff", "qr", "exchange", "exception"):
            found |= names(value, f"{prefix}{key}.")
    return found


def test_every_context_variable_is_documented():
    context = sample_context(Settings(), "approved", "email")
    for name in names(context):
        assert f"`{name}`" in DOC, f"docs/templates.md does not document {name}"
    for key in ("dropoff", "qr", "exchange", "exception"):
        for sub in context[key]:
            assert f"`{sub}`" in DOC, f"docs/templates.md does not document {key}.{sub}"


def test_every_filter_stage_and_limit_is_documented():
    for name in FILTERS:
        assert f"`{name}" in DOC
    for stage in STAGES:
        assert f"| `{stage}` |" in DOC
    assert "templates preview" in DOC and "sms_max_segments" in DOC
    assert len(fields(RenderLimits)) == 7  # one row each in the "Limits" table
