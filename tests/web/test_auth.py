"""Tokens and sessions: nothing under /api or /admin answers without a valid token."""

from __future__ import annotations

from sqlalchemy import select

from hub.store.engine import utcnow
from hub.store.models import ApiToken
from hub.tokens import (
    TokenInfo,
    authenticate,
    hash_token,
    revoke_token,
    token_allows,
)
from hub.web.auth import SESSION_COOKIE, csrf_token
from tests.web.conftest import bearer, new_token

PROTECTED = [("GET", "/api/returns"), ("GET", "/api/openapi.json"), ("GET", "/api/connectors"),
             ("POST", "/api/dead-letters/notifications/x/replay"), ("GET", "/api/nope"),
             ("GET", "/admin/"), ("GET", "/admin"), ("POST", "/admin/dead-letters/inbox/1/replay")]


async def test_no_token_is_401_json_with_a_bearer_challenge(client):
    for method, path in PROTECTED:
        response = await client.request(method, path, headers={"Accept": "application/json"})
        assert response.status == 401, path
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert (await response.json())["error"]["code"] == "missing_token"


async def test_bad_and_revoked_tokens_are_401(hub, client):
    for value in ("rh_not-a-real-token", "nonsense", "rh_" + "x" * 500, "Bearer"):
        response = await client.get("/api/returns", headers=bearer(value))
        assert response.status == 401
        body = await response.json()
        assert body["error"]["code"] == "invalid_token"
        assert value not in await response.text() or value == "Bearer"
    token = await new_token(hub, "soon-revoked", "admin")
    assert (await client.get("/api/returns", headers=bearer(token))).status == 200
    async with hub.sessionmaker() as session, session.begin():
        await revoke_token(session, "soon-revoked", utcnow())
    response = await client.get("/api/returns", headers=bearer(token))
    assert response.status == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


async def test_scope_too_low_is_403(hub, client):
    read = await new_token(hub, "reader", "read")
    operate = await new_token(hub, "operator", "operate")
    response = await client.post("/api/dead-letters/notifications/x/replay", headers=bearer(read))
    assert response.status == 403
    assert (await response.json())["error"]["code"] == "insufficient_scope"
    response = await client.get("/api/customers/1/export", headers=bearer(operate))
    assert response.status == 403
    response = await client.get("/api/audit", headers=bearer(operate))
    assert response.status == 403
    assert (await client.get("/api/returns", headers=bearer(read))).status == 200


async def test_token_is_stored_only_as_a_hash_and_use_is_recorded(hub, client):
    token = await new_token(hub, "hashed", "read")
    assert token.startswith("rh_") and len(token) > 40
    async with hub.sessionmaker() as session:
        row = (await session.execute(select(ApiToken).where(ApiToken.name == "hashed"))
               ).scalar_one()
    assert row.token_hash == hash_token(token) != token
    assert row.last_used_at is None
    await client.get("/api/returns", headers=bearer(token))
    async with hub.sessionmaker() as session:
        row = (await session.execute(select(ApiToken).where(ApiToken.name == "hashed"))
               ).scalar_one()
    assert row.last_used_at is not None


async def test_health_and_metrics_need_no_token(client):
    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/readyz")).status == 200
    assert (await client.get("/metrics")).status == 200


async def test_a_browser_gets_the_sign_in_page_and_a_cookie_session(hub, client):
    token = await new_token(hub, "dash", "operate")
    page = await client.get("/admin/", headers={"Accept": "text/html"})
    assert page.status == 401
    assert "WWW-Authenticate" in page.headers
    assert 'name="token"' in await page.text()
    wrong = await client.post("/admin/session", data={"token": "rh_wrong"},
                              allow_redirects=False)
    assert wrong.status == 401
    signed = await client.post("/admin/session", data={"token": token}, allow_redirects=False)
    assert signed.status == 303
    cookie = signed.headers["Set-Cookie"]
    assert SESSION_COOKIE in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Path=/admin" in cookie
    dashboard = await client.get("/admin/", headers={"Accept": "text/html"})
    assert dashboard.status == 200
    assert "Delivery success rate" in await dashboard.text()


async def test_cookie_posts_need_the_csrf_token_and_the_same_origin(hub, client):
    token = await new_token(hub, "dash2", "operate")
    await client.post("/admin/session", data={"token": token}, allow_redirects=False)
    no_csrf = await client.post("/admin/dead-letters/inbox/1/replay", data={},
                                allow_redirects=False)
    assert no_csrf.status == 403
    assert (await no_csrf.json())["error"]["code"] == "csrf_failed"
    csrf = csrf_token(hub, token)
    foreign = await client.post("/admin/dead-letters/inbox/1/replay", data={"csrf": csrf},
                                headers={"Origin": "https://evil.example"},
                                allow_redirects=False)
    assert foreign.status == 403
    ok = await client.post("/admin/dead-letters/inbox/1/replay", data={"csrf": csrf},
                           allow_redirects=False)
    assert ok.status == 303  # to the dashboard (that inbox event does not exist)
    assert "flash=not_found" in ok.headers["Location"]
    # Bearer requests carry no ambient credentials: no CSRF token needed.
    response = await client.post("/api/dead-letters/inbox/1/replay", headers=bearer(token))
    assert response.status == 404


async def test_sign_out_clears_the_cookie(hub, client):
    token = await new_token(hub, "dash3", "read")
    await client.post("/admin/session", data={"token": token}, allow_redirects=False)
    response = await client.post("/admin/session/end", data={"csrf": csrf_token(hub, token)},
                                 allow_redirects=False)
    assert response.status == 303
    assert f"{SESSION_COOKIE}=\"\"" in response.headers["Set-Cookie"] or \
        "Max-Age=0" in response.headers["Set-Cookie"]


async def test_authenticate_refuses_unknown_revoked_and_malformed(hub):
    token = await new_token(hub, "x", "read")
    async with hub.sessionmaker() as session, session.begin():
        assert (await authenticate(session, token, utcnow())).name == "x"
        assert await authenticate(session, token + "a", utcnow()) is None
        assert await authenticate(session, "", utcnow()) is None


def test_token_allows_regions_groups_and_categories():
    everything = TokenInfo(id=1, name="a", scope="read")
    assert token_allows(everything, None, None)
    eu = TokenInfo(id=2, name="b", scope="read", regions=("EU",))
    assert token_allows(eu, "de", None)
    assert token_allows(eu, "EU", "shoes")
    assert not token_allows(eu, "US", None)
    assert not token_allows(eu, None, None)  # unknown region: outside the limit
    shoes = TokenInfo(id=3, name="c", scope="read", categories=("Shoes",))
    assert token_allows(shoes, "US", "Shoes")
    assert not token_allows(shoes, "US", "bags")
    assert not token_allows(shoes, "US", None)
