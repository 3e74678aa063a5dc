"""Templates without restarts: a change on disk or through the admin API is used by the next
message on every node; a broken change is refused and the last good templates keep sending."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from hub.runtime import Hub
from hub.store.models import AuditEntry
from hub.testing.factories import event_payload
from hub.web.app import create_app
from tests.conftest import make_settings
from tests.web.conftest import bearer, new_token, post_event

if TYPE_CHECKING:
    from pathlib import Path

SMS = "approved/sms.txt.j2"


def settings_for(tmp_path: Path, db_url: str, folder: Path | None = None):
    """One stage on SMS, templates looked up before every message."""
    return make_settings(tmp_path, db_url, templates={"reload_interval_ms": 0},
                         notifications={"stages": {"approved": {"channels": ["sms"]}},
                                        "templates_dir": str(folder) if folder else None})


async def started(settings) -> Hub:
    """A node with its dispatcher built (driven by ``drain``), never restarted by the test."""
    node = Hub.build(settings)
    await node.start(workers=False)
    node.build_workers()
    await node.dispatcher.start()
    return node


async def send_and_read(client: TestClient, node: Hub, outbox: Path, reference: str) -> str:
    """Post an approval for ``reference`` to ``node``, deliver it, return the SMS text."""
    before = set(outbox.glob("*.sms.json")) if outbox.exists() else set()
    await post_event(client, event_payload("return.approved", reference))
    await node.drain()
    new = set(outbox.glob("*.sms.json")) - before
    assert len(new) == 1, f"expected one new SMS, got {len(new)}"
    return json.loads(new.pop().read_text())["body"]


async def test_an_api_edit_on_one_node_is_used_by_the_next_message_on_another(tmp_path, db_url):
    settings = settings_for(tmp_path, db_url)
    node_a, node_b = await started(settings), await started(settings)
    try:
        async with TestClient(TestServer(create_app(node_a))) as client_a, \
                TestClient(TestServer(create_app(node_b))) as client_b:
            outbox = tmp_path / "outbox"
            assert not (await send_and_read(client_b, node_b, outbox, "R-1")).startswith("NEW")
            token = await new_token(node_a)
            response = await client_a.put(
                f"/api/templates/files/{SMS}", headers=bearer(token),
                json={"source": "NEW approved {{ return.reference }}"})
            assert response.status == 200, await response.text()
            assert await send_and_read(client_b, node_b, outbox, "R-2") == "NEW approved R-2"
            # A second edit, and node B still follows without a restart.
            response = await client_a.put(
                f"/api/templates/files/{SMS}", headers=bearer(token),
                json={"source": "NEWER {{ return.reference }}"})
            assert response.status == 200, await response.text()
            assert await send_and_read(client_b, node_b, outbox, "R-3") == "NEWER R-3"
            async with node_a.sessionmaker() as session:
                actions = (await session.execute(select(AuditEntry.action, AuditEntry.target)
                                                 .order_by(AuditEntry.id))).all()
            assert actions == [("template.save", f"template:{SMS}")] * 2
    finally:
        await node_b.stop()
        await node_a.stop()


async def test_a_file_edited_on_disk_is_used_and_a_broken_one_ignored(tmp_path, db_url):
    folder = tmp_path / "operator"
    (folder / "approved").mkdir(parents=True)
    template = folder / SMS
    template.write_text("V1 {{ return.reference }}")
    settings = settings_for(tmp_path, db_url, folder)
    node = await started(settings)
    try:
        async with TestClient(TestServer(create_app(node))) as client:
            outbox = tmp_path / "outbox"
            assert await send_and_read(client, node, outbox, "R-1") == "V1 R-1"
            template.write_text("V2 {{ return.reference }}")  # same size, same instant maybe
            assert await send_and_read(client, node, outbox, "R-2") == "V2 R-2"

            template.write_text("V3\n{{ return.reference }")
            assert await send_and_read(client, node, outbox, "R-3") == "V2 R-3"
            token = await new_token(node, scope="read")
            status = await (await client.get("/api/templates/status",
                                              headers=bearer(token))).json()
            assert status["problem"]["error"].startswith(f"{SMS}: TemplateSyntaxError")
            assert "(line 2)" in status["problem"]["error"]
            page = await (await client.get("/admin/templates", headers=bearer(token))).text()
            assert 'data-testid="template-problem"' in page
            assert f"{SMS}: TemplateSyntaxError" in page and "(line 2)" in page

            template.write_text("V4 {{ return.reference }}")
            assert await send_and_read(client, node, outbox, "R-4") == "V4 R-4"
            status = await (await client.get("/api/templates/status",
                                              headers=bearer(token))).json()
            assert status["problem"] is None
            page = await (await client.get("/admin/templates", headers=bearer(token))).text()
            assert 'data-testid="template-ok"' in page and "template-problem" not in page
    finally:
        await node.stop()


async def test_a_file_broken_on_disk_is_never_read_by_the_last_good_templates(tmp_path, db_url):
    """A file the running templates had not compiled yet is not read from disk either: the
    last good set is held in memory."""
    folder = tmp_path / "operator"
    (folder / "approved").mkdir(parents=True)
    (folder / SMS).write_text("V1 {% include 'approved/extra.txt.j2' %}")
    (folder / "approved" / "extra.txt.j2").write_text("{{ return.reference }}")
    settings = settings_for(tmp_path, db_url, folder)
    node = await started(settings)
    try:
        async with TestClient(TestServer(create_app(node))) as client:
            (folder / "approved" / "extra.txt.j2").write_text("{{ return.nope }}")
            assert await send_and_read(client, node, tmp_path / "outbox", "R-1") == "V1 R-1"
            assert "UndefinedError" in node.templates.status()["problem"]["error"]
    finally:
        await node.stop()


async def test_templates_are_looked_up_at_most_every_interval(tmp_path, db_url):
    folder = tmp_path / "operator"
    (folder / "approved").mkdir(parents=True)
    (folder / SMS).write_text("V1 {{ return.reference }}")
    settings = make_settings(tmp_path, db_url, templates={"reload_interval_ms": 3_600_000},
                             notifications={"stages": {"approved": {"channels": ["sms"]}},
                                            "templates_dir": str(folder)})
    node = await started(settings)
    try:
        async with TestClient(TestServer(create_app(node))) as client:
            (folder / SMS).write_text("V2 {{ return.reference }}")
            os.utime(folder / SMS)
            assert await send_and_read(client, node, tmp_path / "outbox", "R-1") == "V1 R-1"
            await node.templates.refresh(force=True)
            assert await send_and_read(client, node, tmp_path / "outbox", "R-2") == "V2 R-2"
    finally:
        await node.stop()


async def test_a_node_started_with_a_broken_file_shows_the_problem(tmp_path, db_url):
    folder = tmp_path / "operator"
    (folder / "approved").mkdir(parents=True)
    (folder / SMS).write_text("Hello\n{{ return.reference }")
    node = await started(settings_for(tmp_path, db_url, folder))
    try:
        problem = node.templates.status()["problem"]
        assert problem["error"].startswith(f"{SMS}: TemplateSyntaxError")
        assert "(line 2)" in problem["error"]
    finally:
        await node.stop()


async def test_a_file_that_is_not_text_is_refused_and_the_last_good_kept(tmp_path, db_url):
    folder = tmp_path / "operator"
    (folder / "approved").mkdir(parents=True)
    (folder / SMS).write_text("V1 {{ return.reference }}")
    node = await started(settings_for(tmp_path, db_url, folder))
    try:
        async with TestClient(TestServer(create_app(node))) as client:
            (folder / SMS).write_bytes(b"V2 \xff\xfe {{ return.reference }}")
            assert await send_and_read(client, node, tmp_path / "outbox", "R-1") == "V1 R-1"
            assert node.templates.problem.error == f"{SMS}: not UTF-8 text"
    finally:
        await node.stop()
