"""Configuration: every problem reported at once with its path, env overrides, secret files."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.assembly import validate_connectors
from hub.checks import check_config
from hub.config import ConfigError, load_settings
from hub.plugins import collect_connectors, get_plugin_manager

DEFAULT = Path(__file__).resolve().parents[2] / "config" / "returnhub.toml"
#: A file sink delivering email: the least a config needs to deliver.
OUTBOX = """
[sinks.outbox]
type = "file"
[channels.email]
providers = ["outbox"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "returnhub.toml"
    path.write_text(text)
    return path


def test_embedded_default_is_valid(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data/secrets").mkdir(parents=True)
    (tmp_path / "data/secrets/demo-source.secret").write_text("whsec_" + "A" * 44)
    settings = load_settings(DEFAULT)
    specs = check_config(settings)
    assert set(specs) == {"demo", "outbox", "portal"}


def test_all_problems_at_once_with_paths(tmp_path):
    path = write(tmp_path, """
[server]
port = 99999
[sources.shop]
type = "standard_webhooks"
tolerance_seconds = "soon"
[sinks.mail]
type = "filee"
[sinks.files]
type = "file"
directry = "x"
""")
    settings = None
    with pytest.raises(ConfigError) as root_error:
        load_settings(path)
    assert any(p.startswith("server.port:") for p in root_error.value.problems)

    path.write_text(path.read_text().replace("port = 99999", "port = 9000"))
    settings = load_settings(path)
    with pytest.raises(ConfigError) as error:
        validate_connectors(settings, collect_connectors(get_plugin_manager()))
    problems = error.value.problems
    assert "sources.shop.secret: field required" in problems
    assert any(p.startswith("sources.shop.tolerance_seconds:") for p in problems)
    unknown = next(p for p in problems if p.startswith("sinks.mail.type:"))
    assert "unknown sink type 'filee'" in unknown and "file" in unknown  # lists the installed
    assert "sinks.files.directry: unknown setting (check the spelling)" in problems


def test_channels_must_name_configured_sinks(tmp_path):
    path = write(tmp_path, """
[channels.email]
providers = ["nowhere"]
[notifications.stages.approved]
channels = ["sms"]
""")
    with pytest.raises(ConfigError) as error:
        load_settings(path)
    text = "\n".join(error.value.problems)
    assert "channels.email.providers: no sink named 'nowhere'" in text
    assert "notifications.stages.approved.channels: channel 'sms'" in text


@pytest.mark.parametrize(("route", "message"), [
    ('policy = "weighted"', "one weight per provider is required by the weighted policy"),
    ('policy = "weighted"\nweights = [1, -1]', "must be non-negative with a positive sum"),
    ("weights = [1, 1]", "only the weighted policy uses weights"),
])
@pytest.mark.parametrize("section", ["channels.email", "channels.email.categories.promotional"])
def test_weights_are_checked_on_a_channel_and_on_a_category_route(tmp_path, section, route,
                                                                  message):
    channel = "" if section == "channels.email" else '[channels.email]\nproviders = ["a"]'
    path = write(tmp_path, f"""
[sinks.a]
type = "file"
[sinks.b]
type = "file"
{channel}
[{section}]
providers = ["a", "b"]
{route}
""")
    with pytest.raises(ConfigError) as error:
        load_settings(path)
    assert any(p.startswith(f"{section}: weights: {message}") for p in error.value.problems), \
        error.value.problems


def test_env_overrides_file_and_reaches_connector_settings(tmp_path, monkeypatch):
    path = write(tmp_path, """
[server]
port = 8080
[sources.shop]
type = "standard_webhooks"
secret = "whsec_AAAA"
""")
    monkeypatch.setenv("RETURNHUB_SERVER__PORT", "9123")
    monkeypatch.setenv("RETURNHUB_SOURCES__SHOP__TOLERANCE_SECONDS", "60")
    settings = load_settings(path)
    assert settings.server.port == 9123
    specs = validate_connectors(settings, collect_connectors(get_plugin_manager()))
    assert specs["shop"].config.tolerance_seconds == 60


def test_secret_from_file_and_never_printed(tmp_path):
    secret_file = tmp_path / "shop.secret"
    secret_file.write_text("whsec_c2VjcmV0LWZyb20tZmlsZQ==\n")
    path = write(tmp_path, f"""
[sources.shop]
type = "standard_webhooks"
secret_file = "{secret_file}"
""")
    specs = validate_connectors(load_settings(path), collect_connectors(get_plugin_manager()))
    config = specs["shop"].config
    assert config.secret.get_secret_value() == "whsec_c2VjcmV0LWZyb20tZmlsZQ=="
    assert "c2VjcmV0" not in repr(config) and "c2VjcmV0" not in str(config)


def test_missing_secret_file_names_the_key(tmp_path):
    path = write(tmp_path, """
[sources.shop]
type = "standard_webhooks"
secret_file = "/nonexistent/secret"
""")
    with pytest.raises(ConfigError) as error:
        validate_connectors(load_settings(path), collect_connectors(get_plugin_manager()))
    assert error.value.problems[0].startswith("sources.shop.secret_file: cannot read")


def test_validation_errors_never_echo_values(tmp_path):
    path = write(tmp_path, """
[sources.shop]
type = "standard_webhooks"
secret = "not-a-whsec-but-a-real-password"
""")
    with pytest.raises(ConfigError) as error:
        validate_connectors(load_settings(path), collect_connectors(get_plugin_manager()))
    assert "real-password" not in str(error.value)


def test_missing_templates_are_reported(tmp_path):
    path = write(tmp_path, OUTBOX + """
[notifications.stages.approved]
channels = ["email"]
template = "no_such_template"
""")
    with pytest.raises(ConfigError) as error:
        check_config(load_settings(path))
    assert "notifications.stages.approved: template file no_such_template/email.subject.j2 " \
           "not found" in error.value.problems


def test_a_rule_that_does_not_compile_fails_the_check_as_it_fails_serve(tmp_path):
    # Found from outside by an admin: check said "configuration is valid" and serve refused
    # to start over the same rule, so a deploy pipeline with check in it shipped a dead hub.
    path = write(tmp_path, OUTBOX + """
[[rules]]
name = "broken"
when = "stage == "
actions = [{ do = "tag", tag = "x" }]
""")
    with pytest.raises(ConfigError) as error:
        check_config(load_settings(path))
    assert any(p.startswith("rules[0] (broken).when:") for p in error.value.problems)


def test_a_disabled_plugin_name_that_names_no_plugin_is_a_warning(tmp_path):
    # Found from outside by an admin: a typo in plugins.disabled left the plugin running,
    # and nothing said so.
    path = write(tmp_path, OUTBOX + """
[plugins]
disabled = ["shopfy"]
""")
    warnings: list[str] = []
    check_config(load_settings(path), warn=warnings.append)
    assert any(w.startswith("plugins.disabled: no plugin is named 'shopfy' (installed: ")
               and "shopify" in w for w in warnings)
