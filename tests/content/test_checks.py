"""``returnhub check`` renders the configured templates with sample data: render errors and
SMS over notifications.sms_max_segments fail it; UCS-2 SMS and malformed HTML warn."""

from __future__ import annotations

import pytest

from hub.checks import check_config
from hub.config import ConfigError, Settings
from tests.content.support import STAGES

BASE = {
    "sinks": {"outbox": {"type": "file", "directory": "/tmp/returnhub-check-outbox"}},
    "channels": {"email": {"providers": ["outbox"]}, "sms": {"providers": ["outbox"]}},
}


def settings(tmp_path, stages=None, **notifications) -> Settings:
    stages = stages or {"approved": {"channels": ["email", "sms"]}}
    return Settings(**BASE, notifications={"templates_dir": str(tmp_path),
                                           "stages": stages, **notifications})


def operator_file(tmp_path, path: str, text: str) -> None:
    target = tmp_path / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


def test_bundled_templates_pass_for_every_stage(tmp_path):
    stages = {stage: {"channels": ["email", "sms"], "fallback": ["portal"]} for stage in STAGES}
    config = Settings(
        sinks={**BASE["sinks"], "portal": {"type": "portal"}},
        channels={**BASE["channels"], "portal": {"providers": ["portal"]}},
        notifications={"templates_dir": str(tmp_path), "stages": stages})
    warnings: list[str] = []
    check_config(config, warn=warnings.append)
    assert warnings == []


def test_an_sms_over_the_limit_fails_the_check(tmp_path):
    with pytest.raises(ConfigError) as caught:
        check_config(settings(tmp_path, sms_max_segments=1), warn=None)
    problems = [p for p in caught.value.problems if "sms_max_segments = 1" in p]
    assert problems and problems[0].startswith("notifications.stages.approved: sms (en)")
    assert "approved/sms.txt.j2 is 2 SMS segments" in problems[0]


def test_a_long_store_name_is_checked_per_store(tmp_path):
    config = settings(tmp_path, brands={"long": {"store_name": "L" * 200}})
    with pytest.raises(ConfigError) as caught:
        check_config(config, warn=None)
    assert any("as store long" in p for p in caught.value.problems)


def test_an_undefined_variable_in_an_operator_template_fails(tmp_path):
    operator_file(tmp_path, "fr/approved/sms.txt.j2", "{{ retrun.reference }}")
    with pytest.raises(ConfigError) as caught:
        check_config(settings(tmp_path), warn=None)
    assert any("fr/approved/sms.txt.j2: UndefinedError: 'retrun' is undefined" in p
               for p in caught.value.problems)


def test_a_template_that_breaks_without_optional_data_fails(tmp_path):
    operator_file(tmp_path, "approved/sms.txt.j2",
                  "{{ return.reference }} {{ return.refund_amount + 1 }}")
    with pytest.raises(ConfigError) as caught:
        check_config(settings(tmp_path), warn=None)
    assert any("TypeError" in p and "minimal sample data" in p for p in caught.value.problems)


def test_ucs2_sms_and_broken_html_warn_without_failing(tmp_path):
    operator_file(tmp_path, "approved/sms.txt.j2", "Retour {{ return.reference }} reçu ✓")
    operator_file(tmp_path, "approved/email.html.j2",
                  "<!DOCTYPE html><html><head><title>x</title></head><body><p>{{ "
                  "return.reference }}<div></p></body></html>")
    warnings: list[str] = []
    check_config(settings(tmp_path), warn=warnings.append)
    assert any("needs UCS-2" in w for w in warnings)
    assert any("not well-formed HTML" in w for w in warnings)


def test_warnings_go_to_stderr_by_default(tmp_path, capsys):
    operator_file(tmp_path, "approved/sms.txt.j2", "Retour {{ return.reference }} reçu ✓")
    check_config(settings(tmp_path))
    assert "returnhub: warning: notifications.stages.approved: sms" in capsys.readouterr().err
