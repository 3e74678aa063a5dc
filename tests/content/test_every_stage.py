"""Every documented stage works out of the box: the stage lists of the docs are the hub's, and
a config that enables every stage on every channel passes ``returnhub check`` with the bundled
templates (each stage, channel and language set is rendered in tests/content/test_bundled.py
from the same list)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.content.support import STAGES

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_the_docs_name_exactly_the_hubs_stages():
    templates_doc = (ROOT / "docs/templates.md").read_text()
    table = templates_doc.split("### Stages", 1)[1].split("\n\n", 2)[1]
    assert set(re.findall(r"^\| `(\w+)` \|", table, re.M)) == set(STAGES)
    configuration = (ROOT / "docs/configuration.md").read_text()
    paragraph = configuration.split("### `[notifications.stages.<stage>]`", 1)[1].split(
        "\n\n", 2)[1]
    assert set(re.findall(r"`(\w+)`", paragraph)) == set(STAGES)


def test_enabling_every_stage_passes_returnhub_check(tmp_path):
    stages = "\n".join(f'[notifications.stages.{stage}]\nchannels = ["email", "sms", "portal"]\n'
                       for stage in STAGES)
    config = tmp_path / "every-stage.toml"
    config.write_text(f"""
data_dir = "{tmp_path / 'data'}"
[sinks.outbox]
type = "file"
directory = "{tmp_path / 'outbox'}"
[sinks.portal]
type = "portal"
[channels.email]
providers = ["outbox"]
[channels.sms]
providers = ["outbox"]
[channels.portal]
providers = ["portal"]
{stages}
""")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("RETURNHUB_")}
    result = subprocess.run([str(BIN / "returnhub"), "--config", str(config), "check"],
                            capture_output=True, text=True, cwd=tmp_path, env=environment,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "configuration is valid" in result.stdout
    assert "warning" not in result.stderr
