"""A hub wired to the fake SendGrid, Mandrill and Twilio servers, reachable over HTTP so the
fakes can post status webhooks back to it."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from aiohttp.test_utils import TestServer

from hub.runtime import Hub
from hub.store import claims
from hub.testing.fake_mandrill import FakeMandrill
from hub.testing.fake_sendgrid import FakeSendGrid
from hub.testing.fake_twilio import FakeTwilio
from hub.web.app import create_app
from tests.conftest import make_settings

TWILIO_FROM = "+15005550006"
#: Every way a claim can be written; each is run on each backend that can take it.
CLAIM_STYLES = ["native", "two_statements"]


@pytest.fixture(params=CLAIM_STYLES)
def claim_style(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The backend's one-statement claim, or the two-statement fallback forced."""
    if request.param == "two_statements":
        monkeypatch.setattr(claims, "claim_style", lambda session: "two_statements")
    return request.param


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def message_id_of(record: dict[str, Any]) -> str | None:
    """Our message id inside a fake's record of an accepted message."""
    request = record.get("request") or {}
    if "StatusCallback" in request:  # Twilio
        return parse_qs(urlparse(request["StatusCallback"]).query).get("mid", [None])[0]
    if "metadata" in request:  # Mandrill
        return (request.get("metadata") or {}).get("returnhub_message_id")
    args = dict(request.get("custom_args") or {})
    for personalization in request.get("personalizations") or []:
        args.update(personalization.get("custom_args") or {})
    return args.get("returnhub_message_id")


@dataclass
class Providers:
    """The three fake provider servers."""

    sendgrid: FakeSendGrid
    mandrill: FakeMandrill
    twilio: FakeTwilio


@pytest.fixture
async def providers() -> AsyncIterator[Providers]:
    async with FakeSendGrid() as sendgrid, FakeMandrill() as mandrill, FakeTwilio() as twilio:
        yield Providers(sendgrid, mandrill, twilio)


def provider_settings(tmp_path: Path, fakes: Providers, port: int, *, email: dict | None = None,
                      stages: dict | None = None, notifications: dict | None = None,
                      worker: dict | None = None, db_url: str | None = None,
                      sendgrid_policy: dict | None = None):
    """Settings: email via SendGrid then Mandrill, SMS via Twilio, a portal."""
    return make_settings(
        tmp_path, db_url,
        server={"port": port, "public_url": f"http://127.0.0.1:{port}"},
        worker={"idle_poll_seconds": 0.02, "retry_base_seconds": 0.05,
                "retry_max_seconds": 0.3, "send_timeout_seconds": 2, "concurrency": 32,
                **(worker or {})},
        sinks={
            "sg": {"type": "sendgrid", "api_key": "SG.fake-key", "base_url": fakes.sendgrid.url,
                   "webhook_public_key": fakes.sendgrid.public_key_b64,
                   **(sendgrid_policy or {})},
            "md": {"type": "mailchimp_transactional", "api_key": "md-fake-key",
                   "base_url": f"{fakes.mandrill.url}/api/1.3",
                   "webhook_key": "fake-webhook-key"},
            "tw": {"type": "twilio_sms", "account_sid": fakes.twilio.account_sid,
                   "auth_token": fakes.twilio.auth_token, "from_number": TWILIO_FROM,
                   "base_url": fakes.twilio.url},
            "portal": {"type": "portal"},
        },
        channels={"email": {"providers": ["sg", "md"], **(email or {})},
                  "sms": {"providers": ["tw"]}, "portal": {"providers": ["portal"]}},
        notifications={"stages": stages or {
            "approved": {"channels": ["email"], "fallback": ["sms", "portal"]}},
            **(notifications or {})},
    )


@dataclass
class RunningHub:
    """A started hub (workers running) and its HTTP server."""

    hub: Hub
    server: TestServer
    url: str


async def start_hub(settings) -> RunningHub:
    hub = Hub.build(settings)
    await hub.start()
    server = TestServer(create_app(hub), host="127.0.0.1", port=settings.server.port)
    await server.start_server()
    return RunningHub(hub, server, settings.server.base_url())


async def stop_hub(running: RunningHub) -> None:
    await running.server.close()
    await running.hub.stop()
