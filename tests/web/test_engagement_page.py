"""The engagement page and its CSV downloads over HTTP: bad query parameters are JSON errors
naming the field, CSV cells are escaped and formula-safe."""

from __future__ import annotations

import csv
import io

from hub.web.dashboard.csv_export import csv_text, safe_cell
from tests.web.conftest import bearer, new_token, seed


def test_csv_cells_are_quoted_and_cannot_run_as_formulas():
    text = csv_text(["name", "n"], [['=HYPERLINK("http://x")', 1], ["a,b", 2.5],
                                    ['say "hi"\nthere', None], ["-2+3", -1], ["@SUM(A1)", 0]])
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [["name", "n"], ["'=HYPERLINK(\"http://x\")", "1"], ["a,b", "2.5"],
                    ['say "hi"\nthere', ""], ["'-2+3", "-1"], ["'@SUM(A1)", "0"]]
    assert text.endswith("\r\n")
    assert safe_cell("\tcmd") == "'\tcmd" and safe_cell(True) == "True"


async def test_page_and_csv_downloads(hub, client):
    await seed(client, hub, "PG-1", "return.requested", "return.approved")
    token = await new_token(hub, "reader", "read")
    page = await client.get("/admin/engagement?days=7", headers=bearer(token))
    assert page.status == 200, await page.text()
    html = await page.text()
    assert "<svg" in html and 'data-testid="rates-stage"' in html
    assert "<script" not in html.split("</head>", 1)[1]  # charts are drawn server-side

    response = await client.get("/admin/engagement/rates-stage.csv?days=7",
                                headers=bearer(token))
    assert response.status == 200
    assert response.content_type == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(await response.text())))
    assert rows[0][:3] == ["stage", "sent", "opened"]
    assert {r[0]: r[1] for r in rows[1:]} == {"approved": "2", "requested": "1"}


async def test_bad_query_and_unknown_table_are_json_errors(hub, client):
    token = await new_token(hub, "reader", "read")
    for url, field in (("/admin/engagement?days=5", "days"),
                       ("/admin/engagement?response_days=x", "response_days"),
                       ("/admin/engagement/providers.csv?days=-1", "days")):
        response = await client.get(url, headers=bearer(token))
        assert response.status == 400
        assert (await response.json())["error"]["field"] == field
    response = await client.get("/admin/engagement/secrets.csv", headers=bearer(token))
    assert response.status == 404
    assert (await response.json())["error"]["field"] == "table"
    assert (await client.get("/admin/engagement/providers.csv")).status == 401
