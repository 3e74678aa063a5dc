"""Open channels (issue 14): a plugin's sink for a channel the hub has never heard of ("slack",
tests/fixtures/slack_channel) delivers end to end, from a signed webhook through the real
pipeline to a local Slack-style webhook, with a stage configured for it; on SQLite and
PostgreSQL. The recipient is the customer attribute the sink declares (``slack_id``)."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from hub.checks import check_config
from hub.config import ConfigError
from hub.plugins import PluginError, get_plugin_manager
from hub.runtime import Hub
from hub.store.models import Notification, TimelineEntry
from hub.testing.factories import event_payload
from hub.web.app import create_app
from tests.conftest import make_settings, signed_headers, started_hub

PLUGIN_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "slack_channel"
SLACK_ID = "U024BE7LH"
STAGES = {"requested": {"channels": ["email"]},
          "approved": {"channels": ["email", "slack"]},
          "shipment_exception": {"channels": []}}


@pytest.fixture
def slack_plugin(monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    return importlib.import_module("returnhub_slack_channel")


class SlackWebhook:
    """A local stand-in for Slack's incoming webhook: records each JSON post."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.posts.append(await request.json())
        return web.json_response({"ok": True, "ts": f"1700000000.{len(self.posts):06d}"})


@pytest.fixture
async def slack():
    receiver = SlackWebhook()
    app = web.Application()
    app.router.add_post("/hooks/T0/B0", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    receiver.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/hooks/T0/B0"
    try:
        yield receiver
    finally:
        await runner.cleanup()


def slack_settings(tmp_path, db_url, webhook_url: str, **overrides: Any):
    overrides.setdefault("notifications", {"stages": STAGES})
    return make_settings(
        tmp_path, db_url,
        sinks={"team_chat": {"type": "slack_webhook", "webhook_url": webhook_url}},
        channels={"slack": {"providers": ["team_chat"]}}, **overrides)


@pytest.fixture
async def slack_hub(tmp_path, db_url, slack, slack_plugin):
    async with started_hub(slack_settings(tmp_path, db_url, slack.url),
                           get_plugin_manager(extra_plugins=[slack_plugin])) as hub:
        async with TestClient(TestServer(create_app(hub))) as client:
            yield hub, client


async def post_event(client, payload: dict[str, Any]):
    body = json.dumps(payload).encode()
    return await client.post("/webhooks/shop", data=body, headers=signed_headers(body))


def with_slack_id(payload: dict[str, Any], slack_id: str | None) -> dict[str, Any]:
    if slack_id is not None:
        payload["customer"] = {**payload["customer"], "attributes": {"slack_id": slack_id}}
    return payload


async def notifications(hub: Hub) -> dict[str, Notification]:
    async with hub.sessionmaker() as session:
        return {n.channel: n for n in (await session.execute(select(Notification))).scalars()}


async def test_a_plugin_channel_delivers_from_a_signed_webhook(slack_hub, slack):
    hub, client = slack_hub
    response = await post_event(client, with_slack_id(
        event_payload("return.approved", "R-SL-1"), SLACK_ID))
    assert response.status == 202
    await hub.drain()

    assert len(slack.posts) == 1
    post = slack.posts[0]
    assert post["channel"] == SLACK_ID
    # No approved/slack.txt.j2 is bundled: the channel sends the email's plain-text part.
    assert "R-SL-1" in post["text"] and "<p>" not in post["text"]
    sent = await notifications(hub)
    assert {channel: n.status for channel, n in sent.items()} == {"email": "sent",
                                                                   "slack": "sent"}
    assert sent["slack"].provider == "team_chat"
    assert sent["slack"].provider_message_id == "1700000000.000001"
    assert post["client_msg_id"] == sent["slack"].id
    assert SLACK_ID.encode() not in sent["slack"].recipient_enc  # stored encrypted


async def test_the_address_is_remembered_for_later_events_and_a_customer_without_one_is_skipped(
        slack_hub, slack):
    hub, client = slack_hub
    requested = with_slack_id(event_payload("return.requested", "R-SL-2"), SLACK_ID)
    await post_event(client, requested)
    await post_event(client, with_slack_id(event_payload("return.approved", "R-SL-3"), None))
    await hub.drain()
    # R-SL-2's approval names no attributes: the stored customer's slack id is used.
    approved = event_payload("return.approved", "R-SL-2")
    approved["customer"] = {k: v for k, v in requested["customer"].items() if k != "attributes"}
    await post_event(client, approved)
    await hub.drain()

    assert [post["channel"] for post in slack.posts] == [SLACK_ID]
    async with hub.sessionmaker() as session:
        skipped = (await session.execute(select(TimelineEntry).where(
            TimelineEntry.kind == "notification", TimelineEntry.outcome == "skipped"))).scalars()
        reasons = [entry.detail for entry in skipped]
    assert any("no slack address" in json.dumps(detail) for detail in reasons)


async def test_a_bad_attribute_is_refused_naming_the_field(slack_hub, slack):
    hub, client = slack_hub
    response = await post_event(client, with_slack_id(
        event_payload("return.approved", "R-SL-4"), "line\nbreak"))
    assert response.status == 422
    answer = await response.json()
    assert answer["error"]["field"] == "customer.attributes"
    assert "line" not in json.dumps(answer)


async def test_an_operator_template_for_the_channel_wins_over_the_email_text(
        tmp_path, db_url, slack, slack_plugin):
    templates = tmp_path / "templates" / "approved"
    templates.mkdir(parents=True)
    (templates / "slack.txt.j2").write_text(":white_check_mark: {{ return.reference }} approved\n")
    settings = slack_settings(tmp_path, db_url, slack.url, notifications={
        "stages": STAGES, "templates_dir": str(tmp_path / "templates")})
    async with started_hub(settings, get_plugin_manager(extra_plugins=[slack_plugin])) as hub:
        async with TestClient(TestServer(create_app(hub))) as client:
            await post_event(client, with_slack_id(event_payload("return.approved", "R-SL-5"),
                                                   SLACK_ID))
            await hub.drain()
    assert [post["text"] for post in slack.posts] == [":white_check_mark: R-SL-5 approved"]


def test_check_accepts_the_channel_and_names_what_is_missing(tmp_path, slack_plugin):
    pm = get_plugin_manager(extra_plugins=[slack_plugin])
    settings = slack_settings(tmp_path, None, "https://hooks.slack.example/T0/B0")
    assert "team_chat" in check_config(settings, warn=None, pm=pm)

    no_sink = make_settings(tmp_path, sinks={"team_chat": {"type": "file",
                                                           "directory": str(tmp_path)}},
                            channels={"slack": {"providers": ["team_chat"]}},
                            notifications={"stages": STAGES})
    with pytest.raises(ConfigError) as caught:
        check_config(no_sink, warn=None, pm=pm)
    assert ("channels.slack.providers: sink 'team_chat' (file) cannot deliver on 'slack'"
            in caught.value.problems)

    renamed = make_settings(tmp_path, sinks={"team_chat": {"type": "slack_webhook",
                                                           "webhook_url": "https://x.example"}},
                            channels={"slack": {"providers": ["team_chat"]}},
                            notifications={"stages": {"approved": {
                                "channels": ["slack"], "template": "no_such_template"}}})
    with pytest.raises(ConfigError) as caught:
        check_config(renamed, warn=None, pm=pm)
    assert any("no_such_template/slack.txt.j2 (or no_such_template/email.txt.j2"
               in problem for problem in caught.value.problems)


def test_a_sink_declaring_an_address_rule_for_a_channel_it_lacks_is_refused(
        tmp_path, slack_plugin):
    class Broken(slack_plugin.SlackSink):
        type = "slack_broken"
        recipients = {"slack": "attribute:bad name", "whatsapp": "phone"}

    class Plugin:
        @staticmethod
        @slack_plugin.hookimpl
        def returnhub_register_connectors(register):  # noqa: ANN001, ANN205
            register(Broken)

    settings = make_settings(tmp_path, sinks={"chat": {"type": "slack_broken",
                                                       "webhook_url": "https://x.example"}},
                             channels={"slack": {"providers": ["chat"]}},
                             notifications={"stages": STAGES})
    with pytest.raises((ConfigError, PluginError)) as caught:
        Hub.build(settings, get_plugin_manager(extra_plugins=[Plugin()]))
    problems = "\n".join(getattr(caught.value, "problems", [str(caught.value)]))
    assert "sinks.chat: Broken.recipients['slack'] an attribute name is" in problems
    assert "sinks.chat: Broken.recipients names 'whatsapp', which is not one of its channels" \
        in problems
