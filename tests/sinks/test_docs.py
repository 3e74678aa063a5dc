"""docs/sinks.md stays true: every sink setting is documented and every example validates."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from returnhub_mailchimp import MandrillSink
from returnhub_sendgrid import SendGridSink
from returnhub_smtp import SmtpSink
from returnhub_twilio import TwilioSmsSink

SINKS = {cls.type: cls for cls in (SendGridSink, MandrillSink, TwilioSmsSink, SmtpSink)}
#: One page per sink under docs/connectors/.
PAGES = {name: (Path(__file__).resolve().parents[2] / "docs" / "connectors" / f"{name}.md")
         .read_text(encoding="utf-8") for name in SINKS}
DOC = "\n".join(PAGES.values())


def toml_examples() -> list[dict]:
    """Every ``[sinks.<name>]`` table in the doc's TOML blocks."""
    tables = []
    for block in re.findall(r"```toml\n(.*?)```", DOC, flags=re.S):
        tables.extend(tomllib.loads(block).get("sinks", {}).values())
    return tables


@pytest.mark.parametrize("sink_type", sorted(SINKS))
def test_every_setting_is_documented(sink_type) -> None:
    section = PAGES[sink_type]
    for name in SINKS[sink_type].Config.model_fields:
        assert f"`{name}`" in section, \
            f"{sink_type}.{name} is missing from docs/connectors/{sink_type}.md"


def test_every_sink_has_a_valid_example() -> None:
    examples = toml_examples()
    assert sorted(table["type"] for table in examples) == sorted(SINKS)
    for table in examples:
        body = {key.removesuffix("_file"): ("secret-from-file" if key.endswith("_file") else value)
                for key, value in table.items() if key != "type"}
        SINKS[table["type"]].Config.model_validate(body)
