"""Connector classes are checked when plugins load: what lacks a required method or has an
invalid settings model is refused at start-up by plugin, class and type (issue 14)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from pydantic import BaseModel, ConfigDict

from hub.contract import ConnectorSettings, SendResult, Sink, Source, hookimpl
from hub.plugins import PluginError, collect_connectors, get_plugin_manager
from tests.integration.installed import install, run_cli

if TYPE_CHECKING:
    from pathlib import Path


def refusal(*classes: type) -> str:
    """The start-up error for a test plugin ``bad`` registering ``classes``."""

    class Bad:
        __name__ = "bad"  # the plugin name pluggy gives it

        @hookimpl
        def returnhub_register_connectors(self, register):  # noqa: ANN001, ANN201
            for cls in classes:
                register(cls)

    pm = get_plugin_manager(extra_plugins=[Bad()], load_entry_points=False)
    with pytest.raises(PluginError) as caught:
        collect_connectors(pm)
    return str(caught.value)


class GoodSink(Sink):
    type = "good"
    channels = frozenset({"email"})

    async def send(self, message):  # noqa: ANN001, ANN201
        return SendResult(provider_message_id=message.message_id)


class GoodSource(Source):
    type = "good_source"

    async def verify(self, request):  # noqa: ANN001, ANN201
        return None

    async def parse(self, request):  # noqa: ANN001, ANN201
        return []


def test_complete_classes_load():
    class Plugin:
        @hookimpl
        def returnhub_register_connectors(self, register):  # noqa: ANN001, ANN201
            register(GoodSink)
            register(GoodSource)

    registry = collect_connectors(
        get_plugin_manager(extra_plugins=[Plugin()], load_entry_points=False))
    assert registry.sinks == {"good": GoodSink}
    assert registry.sources == {"good_source": GoodSource}


def test_a_sink_without_send_is_refused_by_name():
    class NoSend(Sink):
        type = "nosend"
        channels = frozenset({"email"})

    assert refusal(NoSend) == (
        "plugin 'bad': sink NoSend (type 'nosend') does not implement send (required of a sink)")


def test_a_source_without_parse_or_verify_is_refused():
    class NoVerify(GoodSource):
        type = "noverify"
        verify = Source.verify

    class NoParse(GoodSource):
        type = "noparse"
        parse = Source.parse

    message = refusal(NoVerify, NoParse)  # every problem at once
    assert "source NoVerify (type 'noverify') does not implement verify" in message
    assert "source NoParse (type 'noparse') does not implement parse" in message


def test_a_source_without_webhooks_must_poll():
    class Silent(Source):
        type = "silent"
        accepts_webhooks = False

    assert "source Silent (type 'silent') does not implement poll" in refusal(Silent)


def test_a_sink_without_a_set_of_channels_is_refused():
    class Nowhere(GoodSink):
        type = "nowhere"
        channels = frozenset()

    class Listed(GoodSink):
        type = "listed"
        channels = ("email",)

    message = refusal(Nowhere, Listed)
    assert "sink Nowhere (type 'nowhere') must declare its channels as a non-empty set" in message
    assert "sink Listed (type 'listed') must declare its channels as a non-empty set" in message


def test_status_webhooks_need_both_halves():
    class Unsigned(GoodSink):
        type = "unsigned"

        async def parse_status(self, request):  # noqa: ANN001, ANN201
            return []

    assert "implements parse_status without verify_status" in refusal(Unsigned)


def test_a_plain_def_send_is_refused():
    class Blocking(Sink):
        type = "blocking"
        channels = frozenset({"sms"})

        def send(self, message):  # noqa: ANN001, ANN201
            return SendResult(provider_message_id=message.message_id)

    assert "sink Blocking (type 'blocking') send must be `async def`" in refusal(Blocking)


def test_a_class_without_a_type_is_refused():
    class Anonymous(Sink):
        channels = frozenset({"email"})

        async def send(self, message):  # noqa: ANN001, ANN201
            raise NotImplementedError

    assert "plugin 'bad': sink Anonymous has no `type` name" in refusal(Anonymous)


def test_a_settings_model_that_is_not_pydantic_is_refused():
    class Plain(GoodSink):
        type = "plain"
        Config = dict

    assert "sink Plain (type 'plain') Config is not a pydantic model" in refusal(Plain)


def test_a_settings_model_accepting_unknown_keys_is_refused():
    class Loose(BaseModel):
        model_config = ConfigDict(extra="allow")

    class Ignoring(ConnectorSettings):
        model_config = ConfigDict(extra="ignore")

    class LooseSink(GoodSink):
        type = "loose"
        Config = Loose

    class IgnoringSink(GoodSink):
        type = "ignoring"
        Config = Ignoring

    message = refusal(LooseSink, IgnoringSink)
    assert "sink LooseSink (type 'loose') Loose must refuse unknown keys" in message
    assert "sink IgnoringSink (type 'ignoring') Ignoring must refuse unknown keys" in message


def test_settings_fields_the_core_takes_are_refused():
    class Shadowed(ConnectorSettings):
        rate_limit_per_second: float = 1.0
        token_file: str = "secret.txt"

    class ShadowedSink(GoodSink):
        type = "shadowed"
        Config = Shadowed

    message = refusal(ShadowedSink)
    assert "Shadowed.rate_limit_per_second: the core reads this key itself" in message
    assert "Shadowed.token_file: a key ending in _file is read as a secret file" in message


BROKEN = '''
from pydantic import Field
from hub.contract import ConnectorSettings, SendResult, Sink, hookimpl

RETURNHUB_API = ">=1.0,<2"


class NoSend(Sink):
    type = "nosend"
    channels = frozenset({"email"})


class Settings(ConnectorSettings):
    endpoint: str = Field(description="Where messages go.")


class Needy(Sink):
    type = "needy"
    channels = frozenset({"email"})
    Config = Settings

    async def send(self, message):
        return SendResult(provider_message_id=message.message_id)


@hookimpl
def returnhub_register_connectors(register):
    register(NEEDY_ONLY and Needy or NoSend)
'''


def test_check_and_serve_refuse_a_sink_without_send(tmp_path: Path):
    site = tmp_path / "site"
    install(site, "broken", BROKEN.replace("NEEDY_ONLY", "False"))
    config = tmp_path / "hub.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n')
    for command in (["check"], ["serve", "--port", "0"]):
        result = run_cli("--config", str(config), *command, site=site, cwd=tmp_path)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert ("plugin 'broken': sink NoSend (type 'nosend') does not implement send"
                in result.stderr)


def test_check_names_a_required_setting_the_config_misses(tmp_path: Path):
    site = tmp_path / "site"
    install(site, "broken", BROKEN.replace("NEEDY_ONLY", "True"))
    config = tmp_path / "hub.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n[sinks.out]\ntype = "needy"\n')
    result = run_cli("--config", str(config), "check", site=site, cwd=tmp_path)
    assert result.returncode == 2, result.stdout
    assert "sinks.out.endpoint" in result.stderr
