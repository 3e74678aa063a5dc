"""``returnhub templates preview``: the real command line through add_parser, in a child
process, and the preview function."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hub.config import Settings
from hub.content.preview import preview
from hub.templates import TemplateRenderer, TemplateRenderError

ROOT = Path(__file__).resolve().parents[2]
#: A throwaway ``returnhub`` parser with only what hub/cli.py gives every command.
HARNESS = """
import argparse, sys
from hub.cli_templates import add_parser
parser = argparse.ArgumentParser(prog="returnhub")
parser.add_argument("--config")
add_parser(parser.add_subparsers(dest="command", required=True))
args = parser.parse_args(sys.argv[1:])
sys.exit(args.func(args))
"""


def returnhub(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", HARNESS, *args], cwd=cwd, capture_output=True,
                          text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})


def write_config(tmp_path: Path, extra: str = "") -> Path:
    config = tmp_path / "returnhub.toml"
    config.write_text(f'[notifications]\ntemplates_dir = "{tmp_path / "tpl"}"\n{extra}')
    (tmp_path / "tpl").mkdir(exist_ok=True)
    return config


def test_preview_prints_the_email_in_a_locale():
    result = returnhub("templates", "preview", "approved", "--channel", "email",
                       "--locale", "fr")
    assert result.returncode == 0, result.stderr
    assert "Subject: Votre retour R-1001 est accepté" in result.stdout
    assert "Bonjour" in result.stdout and "# templates: fr/approved/" in result.stdout
    assert "# HTML part:" in result.stdout


def test_preview_sms_reports_its_segments(tmp_path):
    config = write_config(tmp_path)
    result = returnhub("--config", str(config), "templates", "preview", "label_created",
                       "--channel", "sms", "--locale", "de-DE")
    assert result.returncode == 0, result.stderr
    assert "Ihr Rücksendeetikett für R-1001 ist bereit" in result.stdout
    assert "segment(s), GSM-7" in result.stdout and "limit 3" in result.stdout


def test_a_missing_variable_fails_naming_file_and_variable(tmp_path):
    config = write_config(tmp_path)
    (tmp_path / "tpl" / "approved").mkdir()
    (tmp_path / "tpl" / "approved" / "sms.txt.j2").write_text(
        "Hi\n{{ brand.store_name }}: {{ return.referense }}")
    result = returnhub("templates", "preview", "approved", "--channel", "sms",
                       "--config", str(config))
    assert result.returncode == 1
    assert "approved/sms.txt.j2" in result.stderr and "'referense'" in result.stderr
    assert "line 2" in result.stderr


def test_an_sms_over_the_limit_fails(tmp_path):
    config = write_config(tmp_path, "sms_max_segments = 1\n")
    result = returnhub("templates", "preview", "label_created", "--channel", "sms",
                       "--config", str(config))
    assert result.returncode == 1 and "over notifications.sms_max_segments = 1" in result.stderr


def test_html_can_be_printed_and_saved(tmp_path):
    out = tmp_path / "preview.html"
    result = returnhub("templates", "preview", "refunded", "--html", "--html-out", str(out),
                       "--store", "shop")
    assert result.returncode == 0, result.stderr
    assert "\n\n<!DOCTYPE html>" in result.stdout and "# HTML part" not in result.stdout
    assert out.read_text().startswith("<!DOCTYPE html>")


def test_a_bad_config_exits_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[notifications]\nsms_max_segments = 0\n")
    result = returnhub("templates", "preview", "approved", "--config", str(bad))
    assert result.returncode == 2 and "notifications.sms_max_segments" in result.stderr


def test_preview_function_uses_the_store_brand_and_default_locale():
    settings = Settings(notifications={"default_locale": "de-DE",
                                       "brands": {"eu": {"store_name": "Demo EU"}}})
    message = preview(settings, TemplateRenderer(), "approved", "sms", brand_source="eu")
    assert message.text.startswith("Demo EU: Ihre Retoure R-1001 wurde genehmigt.")


def test_preview_of_an_unknown_stage_names_the_missing_file():
    with pytest.raises(TemplateRenderError, match="no_such_stage/sms.txt.j2: template not found"):
        preview(Settings(), TemplateRenderer(), "no_such_stage", "sms")


def test_add_parser_is_all_the_real_cli_needs(monkeypatch, capsys):
    import argparse

    from hub import cli
    from hub.cli_templates import add_parser

    build = cli.build_parser

    def build_with_templates() -> argparse.ArgumentParser:
        parser = build()
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        if "templates" not in sub.choices:  # until hub/cli.py wires it itself
            add_parser(sub)
        return parser

    monkeypatch.setattr(cli, "build_parser", build_with_templates)
    args = cli.build_parser().parse_args(["--config", "x.toml", "templates", "preview", "closed"])
    assert (args.config, args.stage, args.channel) == ("x.toml", "closed", "email")
    assert cli.main(["templates", "preview", "refunded", "--channel", "sms", "--locale",
                     "de"]) == 0
    assert "Wir haben" in capsys.readouterr().out


def test_preview_of_a_plugin_channel_uses_its_file_or_the_email_text(tmp_path):
    config = write_config(tmp_path)
    result = returnhub("--config", str(config), "templates", "preview", "approved",
                       "--channel", "slack")
    assert result.returncode == 0, result.stderr
    assert "# templates: approved/email.txt.j2" in result.stdout and "R-1001" in result.stdout
    (tmp_path / "tpl" / "approved").mkdir()
    (tmp_path / "tpl" / "approved" / "slack.txt.j2").write_text("{{ return.reference }} :tada:")
    result = returnhub("--config", str(config), "templates", "preview", "approved",
                       "--channel", "slack")
    assert result.returncode == 0, result.stderr
    assert "# templates: approved/slack.txt.j2" in result.stdout
    assert "R-1001 :tada:" in result.stdout
    refused = returnhub("templates", "preview", "approved", "--channel", "../x")
    assert refused.returncode == 2 and "a channel name is letters" in refused.stderr
