"""The dashboard's templates page in a real browser: a save through the API listed, a broken
file on disk shown with its file and line while the last good template keeps sending."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer

from hub.web.app import create_app
from tests.browser.conftest import assert_screenshot
from tests.content.test_live_templates import SMS, send_and_read, settings_for, started
from tests.web.conftest import bearer, new_token


async def test_templates_page_shows_saves_and_a_refused_file(phone, tmp_path, db_url):
    folder = tmp_path / "operator"
    (folder / "_partials").mkdir(parents=True)
    partial = folder / "_partials" / "note.txt.j2"
    partial.write_text("fine")
    hub = await started(settings_for(tmp_path, db_url, folder))
    try:
        async with TestClient(TestServer(create_app(hub), host="127.0.0.1")) as client:
            base = str(client.make_url("")).rstrip("/")
            token = await new_token(hub, "browser-ops")
            response = await client.put(f"/api/templates/files/{SMS}", headers=bearer(token),
                                        json={"source": "Saved {{ return.reference }}"})
            assert response.status == 200
            revision = (await response.json())["revision"]

            await phone.goto(f"{base}/admin/templates")
            await phone.fill("#token", token)
            await phone.click("button[type=submit]")
            await phone.goto(f"{base}/admin/templates")
            await phone.wait_for_selector("[data-testid=template-ok]")
            row = phone.locator("[data-testid=template-saves] tbody tr").first
            cells = await row.locator("td").all_text_contents()
            assert cells[:3] == [str(revision), SMS, "browser-ops"]

            partial.write_text("one\ntwo {{ broken")
            assert await send_and_read(client, hub, tmp_path / "outbox", "R-1") == "Saved R-1"
            await phone.reload()
            problem = await phone.text_content("[data-testid=template-problem]")
            assert hub.templates.problem is not None
            assert hub.templates.problem.error in " ".join(problem.split())
            assert "_partials/note.txt.j2: TemplateSyntaxError" in problem
            assert "(line 2)" in problem
            shot = tmp_path / "templates-phone.png"
            await phone.screenshot(path=str(shot), full_page=True)
            assert_screenshot(shot)
    finally:
        await hub.stop()
