"""`returnhub rules test` and `returnhub simulate` take what platforms send: a Shopify webhook
body and an ERP record go through their source's parse (the one ingress uses), the source named
or inferred; signatures are not checked for a local file, and the output says so. Bad input is
one clear line and exit 2, never a traceback."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from tests.integration.test_cli import ROOT, run

if TYPE_CHECKING:
    from pathlib import Path

FIXTURES = ROOT / "tests" / "fixtures" / "sources"
CONFIG = """
data_dir = "data"

[sources.store]
type = "shopify"
shop_domain = "example.myshopify.com"
api_secret = "shpss_cli_test_secret"

[sinks.outbox]
type = "file"
directory = "data/outbox"

[channels.email]
providers = ["outbox"]

[notifications.stages.requested]
channels = ["email"]

[notifications.stages.received]
channels = ["email"]

[[rules]]
name = "tag-small-sizes"
when = 'stage == "requested" && reason == "size_too_small"'
actions = [{ do = "tag", tag = "sizing" }]
"""


def configured(tmp_path: Path, *, with_erp: bool = False) -> Path:
    """A config with a Shopify store (and the Odoo example's ERP), initialized."""
    text = CONFIG
    if with_erp:
        odoo = (ROOT / "config/examples/erp-odoo.toml").read_text()
        odoo = odoo.replace('bearer_token_file = "/run/secrets/odoo_api_token"',
                            'bearer_token = "erp-token"')
        odoo = odoo.replace('webhook_secret_file = "/run/secrets/odoo_webhook_secret"',
                            'webhook_secret = "odoo-secret"')
        text += "\n" + odoo
    config = tmp_path / "hub.toml"
    config.write_text(text)
    assert run("--config", str(config), "init", cwd=tmp_path).returncode == 0
    return config


def test_rules_test_reads_a_shopify_webhook_body_through_the_shopify_parse(tmp_path):
    config = configured(tmp_path, with_erp=True)
    result = run("--config", str(config), "rules", "test",
                 str(FIXTURES / "shopify/returns_request.json"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["source"] == "store"  # inferred: the ERP's parse does not read it
    assert any("signature not checked" in note for note in out["notes"])
    [event] = out["events"]
    assert event["return"] == "gid://shopify/Return/9994378"
    assert (event["event_outcome"], event["final_state"]) == ("moved", "requested")
    assert [r["rule"] for r in event["rules"] if r["matched"]] == ["tag-small-sizes"]


def test_a_header_names_the_shopify_topic(tmp_path):
    config = configured(tmp_path)
    result = run("--config", str(config), "rules", "test", "--source", "store",
                 "--header", "X-Shopify-Topic: returns/approve",
                 str(FIXTURES / "shopify/returns_request.json"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["events"][0]["final_state"] == "approved"


def test_simulate_reads_an_erp_record_and_renders_its_message(tmp_path):
    config = configured(tmp_path, with_erp=True)
    record = json.loads((FIXTURES / "erp/odoo_rma_page.json").read_text())["records"][0]
    record["write_date"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")  # news, not history
    path = tmp_path / "rma.json"
    path.write_text(json.dumps(record))
    result = run("--config", str(config), "simulate", "--source", "odoo", str(path),
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "parsed by source 'odoo' (erp), as ingress would" in lines
    assert any(line.startswith("signature not checked") for line in lines)
    assert "event return.received for return RMA/2025/0041" in lines
    assert "--- email via outbox (template received; not before" in result.stdout
    assert any(line.startswith("Subject:") and "RMA/2025/0041" in line for line in lines)
    assert not (tmp_path / "data/outbox").exists() or not any(
        (tmp_path / "data/outbox").iterdir())


def test_simulate_says_why_a_stale_record_sends_nothing(tmp_path):
    config = configured(tmp_path, with_erp=True)
    record = json.loads((FIXTURES / "erp/odoo_rma_page.json").read_text())["records"][0]
    path = tmp_path / "rma.json"
    path.write_text(json.dumps(record))  # written in March 2025
    result = run("--config", str(config), "simulate", "--source", "odoo", str(path),
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "not sent (received): stale: occurred" in result.stdout
    assert "nothing would be sent" in result.stdout


def test_a_payload_no_source_reads_is_one_line_and_exit_2(tmp_path):
    config = configured(tmp_path)
    path = tmp_path / "odd.json"
    path.write_text('{"hello": "world"}')
    for command in (["rules", "test"], ["simulate"]):
        result = run("--config", str(config), *command, str(path), cwd=tmp_path)
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        assert "name the source with --source" in result.stderr
    unknown = run("--config", str(config), "rules", "test", "--source", "nope", str(path),
                  cwd=tmp_path)
    assert unknown.returncode == 2 and "no source named 'nope'" in unknown.stderr
    missing = run("--config", str(config), "simulate", str(tmp_path / "none.json"),
                  cwd=tmp_path)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert "none.json: cannot read it (No such file or directory)" in missing.stderr
    garbled = tmp_path / "garbled.json"
    garbled.write_text("{not json")
    broken = run("--config", str(config), "rules", "test", str(garbled), cwd=tmp_path)
    assert broken.returncode == 2 and "garbled.json: not JSON" in broken.stderr
