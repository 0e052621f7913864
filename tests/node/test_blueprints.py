"""Each blueprint answers in its own language, and CSRF is decided per route.

API and protocol paths answer errors with the envelope; portal pages with a page. A write through the
API that is authenticated by the portal's session cookie must carry the CSRF token; one with a bearer
token, or a robot's call, need not.
"""

from __future__ import annotations

import re

from tests.support import ADMIN_PASSWORD


def _signed_in(client) -> str:
    """Sign in through the portal form; returns the page's CSRF token."""
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    resp = client.post("/login", data={"username": "admin", "password": ADMIN_PASSWORD, "csrf_token": token})
    assert resp.status_code == 302
    return token


def test_a_cookie_authenticated_api_write_needs_the_csrf_token(client):
    """A forged cross-site POST riding on the session cookie is refused with the envelope; the same
    call with the page's token goes through."""
    token = _signed_in(client)
    refused = client.post("/api/v1/suppliers", json={"code": "forged"})
    assert refused.status_code == 400
    assert refused.get_json()["resultValue"]["errorCode"] == 10001
    assert refused.get_json()["resultHint"].startswith("X-CSRFToken: ")
    made = client.post("/api/v1/suppliers", json={"code": "real"}, headers={"X-CSRFToken": token})
    assert made.status_code == 201, made.get_json()
    assert client.get("/api/v1/suppliers").get_json()["resultValue"]["total"] == 1  # reads need no token


def test_bearer_and_robot_calls_need_no_csrf_token(client, admin_headers):
    """Header-authenticated callers (a bearer token, a robot) are exempt route by route."""
    assert client.post("/api/v1/suppliers", json={"code": "acme"}, headers=admin_headers).status_code == 201
    r = client.post("/robots/connect/heartbeat", json={}, headers={"robotId": "r1", "robotConnectId": "c_x"})
    assert r.status_code == 401 and r.get_json()["resultValue"]["errorCode"] == 10003  # auth, not CSRF


def test_errors_speak_the_blueprints_language(client, admin_headers):
    """Protocol and API paths answer the envelope (even for unknown URLs and wrong methods); the
    portal answers a page, never a traceback."""
    for path in ("/api/v1/nope", "/robots/connect/nope", "/v1/file/x/nope"):
        r = client.get(path)
        assert r.status_code == 404 and r.get_json()["resultValue"]["errorCode"] == 10404, path
    r = client.get("/robots/connect/heartbeat")  # POST only
    assert r.status_code == 405 and r.get_json()["resultValue"]["errorCode"] == 10001
    r = client.post("/design/personalfile", json={})  # no robot headers: the field is named
    assert r.status_code == 400 and r.get_json()["resultHint"].startswith("robotId:")
    page = client.get("/no-such-page", headers={"Accept": "text/html"})
    assert page.status_code == 404 and "页面不存在" in page.get_data(as_text=True)
    assert page.mimetype == "text/html"


def test_an_unexpected_error_on_a_page_is_a_page(app, client, monkeypatch):
    """A bug behind a portal page answers 500 with a page that says nothing was changed."""
    _signed_in(client)
    import node.web

    def broken(*_args, **_kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(node.web, "status_overview", broken)
    page = client.get("/")
    assert page.status_code == 500 and page.mimetype == "text/html"
    assert "未做任何更改" in page.get_data(as_text=True) and "Traceback" not in page.get_data(as_text=True)
