"""Numeric ids out of the 64-bit range, negative or not numbers: 422 naming the field, never a
500; a well-formed id that names no row: 404. Every admin route with a numeric id is found
from the route declarations, so a new one is covered without editing this file."""

from __future__ import annotations

import base64
import json

import pytest

from hub.web.admin import endpoints
from hub.web.admin.ids import MAX_ROW_ID
from hub.web.admin.schemas import IntId
from hub.web.auth import SESSION_COOKIE, csrf_token
from tests.web.conftest import bearer, new_token

BAD_IDS = [str(2**63), str(2**64), "-1", "abc"]
#: Bodies the routes with a body need to get as far as the id.
BODIES = {"PATCH": {"channels": {"sms": False}}}
ID_ROUTES = [(e.method, e.path) for e in endpoints() if e.path_model is IntId]


def test_the_numeric_id_routes_are_found():
    assert len(ID_ROUTES) == 9, ID_ROUTES  # returns x2, customers x4, inbox replay, campaigns x2


def cursor(*values) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).decode().rstrip("=")


async def test_path_ids_out_of_range_or_malformed_are_422_naming_the_field(hub, client):
    headers = bearer(await new_token(hub))
    for method, path in ID_ROUTES:
        for bad in BAD_IDS:
            response = await client.request(method, path.replace("{id}", bad),
                                            json=BODIES.get(method), headers=headers)
            assert response.status == 422, (method, path, bad, await response.text())
            error = (await response.json())["error"]
            assert (error["code"], error["field"]) == ("invalid_field", "id"), (path, bad)
        response = await client.request(method, path.replace("{id}", str(MAX_ROW_ID)),
                                        json=BODIES.get(method), headers=headers)
        assert response.status == 404, (method, path, await response.text())


@pytest.mark.parametrize(("path", "field"), [("/api/notifications?return_id={}", "return_id"),
                                             ("/api/returns?cursor={}", "cursor"),
                                             ("/api/dead-letters/inbox?cursor={}", "cursor"),
                                             ("/api/audit?cursor={}", "cursor")])
async def test_query_ids_and_cursors_out_of_range_are_422(hub, client, path, field):
    headers = bearer(await new_token(hub))
    for bad in (2**63, 2**64, -1):
        value = str(bad) if field != "cursor" else cursor(bad)
        response = await client.get(path.format(value), headers=headers)
        assert response.status == 422, (path, bad, await response.text())
        assert (await response.json())["error"]["field"] == field
    value = str(MAX_ROW_ID) if field != "cursor" else cursor(MAX_ROW_ID)
    response = await client.get(path.format(value), headers=headers)
    assert response.status == 200, await response.text()
    assert (await response.json())["items"] == []


async def test_the_dashboard_replay_and_lookup_refuse_out_of_range_ids(hub, client):
    token = await new_token(hub, scope="operate")
    session = {"Cookie": f"{SESSION_COOKIE}={token}"}
    for bad in BAD_IDS:
        response = await client.post(f"/admin/dead-letters/inbox/{bad}/replay",
                                     data={"csrf": csrf_token(hub, token)}, headers=session,
                                     allow_redirects=False)
        assert response.status == 422, (bad, await response.text())
        assert (await response.json())["error"]["field"] == "id"
    response = await client.post(f"/admin/dead-letters/inbox/{MAX_ROW_ID}/replay",
                                 data={"csrf": csrf_token(hub, token)}, headers=session,
                                 allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/admin/?flash=not_found#dead-letters"
    for bad in BAD_IDS:  # the lookup's chosen return: no timeline, no 500
        response = await client.get(f"/admin/?q=R-1&return={bad}", headers=session)
        assert response.status == 200, (bad, await response.text())
