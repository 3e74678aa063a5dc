"""A template saved through the admin API of one node is used by the next message a separate
worker process renders, without restarting it (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import subprocess
import sys

from aiohttp.test_utils import TestClient, TestServer

from hub.runtime import Hub
from hub.testing.factories import event_payload
from hub.web.app import create_app
from tests.conftest import TEST_SECRET, make_settings, wait_for
from tests.web.conftest import bearer, new_token, post_event

BIN = sys.executable.rsplit("/", 1)[0]
SMS = "approved/sms.txt.j2"


def _config(tmp_path, settings) -> str:
    keys = json.dumps([k.get_secret_value() for k in settings.security.pii_keys])
    lookup = settings.security.lookup_key.get_secret_value()
    path = tmp_path / "worker.toml"
    path.write_text(f"""
data_dir = "{settings.data_dir}"
[database]
url = "{settings.database.url}"
[security]
pii_keys = {keys}
lookup_key = "{lookup}"
[logging]
format = "json"
[worker]
idle_poll_seconds = 0.05
[templates]
reload_interval_ms = 0
[sources.shop]
type = "standard_webhooks"
secret = "{TEST_SECRET}"
[sinks.outbox]
type = "file"
directory = "{tmp_path / 'outbox'}"
[channels.sms]
providers = ["outbox"]
[notifications.stages.approved]
channels = ["sms"]
""")
    return str(path)


def _texts(outbox) -> dict[str, str]:
    found = {}
    for path in outbox.glob("*.sms.json"):
        body = json.loads(path.read_text())
        found[body["metadata"]["return"]] = body["body"]
    return found


async def test_an_api_edit_reaches_a_separate_worker_process(tmp_path, db_url):
    settings = make_settings(tmp_path, db_url, templates={"reload_interval_ms": 0},
                             channels={"sms": {"providers": ["outbox"]}},
                             notifications={"stages": {"approved": {"channels": ["sms"]}}})
    node = Hub.build(settings)
    await node.start(workers=False)  # ingress and the admin API only
    worker = subprocess.Popen([f"{BIN}/returnhub", "--config", _config(tmp_path, settings),
                               "worker"], stdout=subprocess.DEVNULL,
                              stderr=(tmp_path / "worker.log").open("a"))
    outbox = tmp_path / "outbox"
    try:
        async with TestClient(TestServer(create_app(node))) as client:
            await post_event(client, event_payload("return.approved", "R-1"))
            await wait_for(lambda: "R-1" in _texts(outbox), timeout=60)
            assert not _texts(outbox)["R-1"].startswith("NEW")
            token = await new_token(node)
            response = await client.put(f"/api/templates/files/{SMS}", headers=bearer(token),
                                        json={"source": "NEW {{ return.reference }}"})
            assert response.status == 200, await response.text()
            await post_event(client, event_payload("return.approved", "R-2"))
            await wait_for(lambda: "R-2" in _texts(outbox), timeout=60)
            assert _texts(outbox)["R-2"] == "NEW R-2"
            assert worker.poll() is None  # the same process, never restarted
    finally:
        worker.terminate()
        worker.wait(20)
        await node.stop()
