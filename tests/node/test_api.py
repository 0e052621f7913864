"""Management API (in-process): auth, permissions, validation with the envelope, packages, runs."""

import io
import re
import zipfile

import pytest

from tests.support import package_zip


def value(resp, status=200):
    assert resp.status_code == status, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["successful"] is True
    return body["resultValue"]


def error(resp, status, code=10001):
    assert resp.status_code == status, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["successful"] is False
    assert body["resultValue"]["errorCode"] == code
    return body["resultHint"]


def upload(client, headers, data: bytes, name="hello"):
    return client.post(
        "/api/v1/apps",
        headers=headers,
        data={"package": (io.BytesIO(data), "p.zip"), "name": name},
        content_type="multipart/form-data",
    )


def test_token_and_wrong_password(client):
    """Right credentials give a bearer token; wrong ones a 401 envelope that does not say which was wrong."""
    assert value(
        client.post("/api/v1/auth/token", json={"username": "admin", "password": "admin-test-pass"})
    )["token"]
    hint = error(
        client.post("/api/v1/auth/token", json={"username": "admin", "password": "nope"}), 401, 10401
    )
    assert "wrong username or password" in hint
    error(client.post("/api/v1/auth/token", json={"username": "ghost", "password": "nope"}), 401, 10401)


def test_every_api_endpoint_needs_a_token(client):
    """No token → 401 envelope, a bad token too."""
    error(client.get("/api/v1/robots"), 401, 10401)
    error(client.get("/api/v1/runs", headers={"Authorization": "Bearer forged"}), 401, 10401)


def test_viewer_cannot_add_suppliers(client, admin_headers):
    """Permissions are checked per endpoint: a viewer reads but cannot change."""
    value(
        client.post(
            "/api/v1/users",
            headers=admin_headers,
            json={"username": "li.wei", "password": "viewer-pass-1", "role": "viewer"},
        ),
        201,
    )
    tok = value(client.post("/api/v1/auth/token", json={"username": "li.wei", "password": "viewer-pass-1"}))[
        "token"
    ]
    viewer = {"Authorization": f"Bearer {tok}"}
    value(client.get("/api/v1/robots", headers=viewer))
    hint = error(client.post("/api/v1/suppliers", headers=viewer, json={"code": "x"}), 403, 10403)
    assert "supplier.manage" in hint


def test_supplier_secret_shown_once(client, admin_headers):
    """The secret comes back on creation only; listings never show it."""
    created = value(
        client.post("/api/v1/suppliers", headers=admin_headers, json={"code": "acme", "name": "Acme"}), 201
    )
    assert len(created["secret"]) >= 32
    listing = value(client.get("/api/v1/suppliers", headers=admin_headers))
    assert created["secret"] not in str(listing)
    assert error(client.post("/api/v1/suppliers", headers=admin_headers, json={"code": "acme"}), 409, 10409)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"code": "bad code!"}, "code"),
        ({}, "code"),
        ({"code": "ok", "unexpected": 1}, "unexpected"),
        ("not an object", "body"),
    ],
)
def test_supplier_bad_input_names_the_field(client, admin_headers, body, field):
    """A bad field gets 400/10001 and a hint naming it."""
    assert field in error(client.post("/api/v1/suppliers", headers=admin_headers, json=body), 400)


def test_limit_is_capped(client, admin_headers):
    """Lists take limit ≤ 1000."""
    assert "limit" in error(client.get("/api/v1/runs?limit=5000", headers=admin_headers), 400)
    assert value(client.get("/api/v1/runs?limit=1000", headers=admin_headers)) == {"items": [], "total": 0}


def test_package_upload_and_immutable_versions(client, admin_headers):
    """A package becomes an app version stored by SHA-256; the same version cannot be uploaded twice."""
    created = value(upload(client, admin_headers, package_zip()), 201)
    assert len(created["sha256"]) == 64
    assert "immutable" in error(upload(client, admin_headers, package_zip()), 409, 10409)
    value(upload(client, admin_headers, package_zip(version="1.1")), 201)
    app = value(client.get(f"/api/v1/apps/{created['appId']}", headers=admin_headers))
    assert [v["version"] for v in app["versions"]] == ["1.0", "1.1"]


def _zip(files: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for k, v in files.items():
            zf.writestr(k, v)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("data", "hint"),
    [
        (b"not a zip", "not a zip"),
        (_zip({"tasks.robot": "x"}), "manifest.json missing"),
        (_zip({"manifest.json": "{"}), "not valid JSON"),
        (
            _zip({"manifest.json": '{"name": "n", "version": "1", "entry": "missing.robot"}'}),
            "manifest.entry",
        ),
        (
            _zip({"manifest.json": '{"name": "n", "version": "1", "entry": "../x"}', "x": ""}),
            "manifest.entry",
        ),
        (
            _zip({"manifest.json": '{"name": "n", "version": "1 2", "entry": "t"}', "t": ""}),
            "manifest.version",
        ),
    ],
)
def test_bad_packages_are_refused_with_a_reason(client, admin_headers, data, hint):
    """Broken packages never become versions; the hint says what is wrong."""
    assert hint in error(upload(client, admin_headers, data), 400)


def test_run_arguments_are_checked_against_the_manifest(client, admin_headers):
    """Unknown, missing and mistyped arguments are refused naming the argument; secrets are masked."""
    args = [{"name": "month", "type": "int", "required": True}, {"name": "token", "type": "secret"}]
    value(client.post("/api/v1/suppliers", headers=admin_headers, json={"code": "acme"}), 201)
    app_id = value(upload(client, admin_headers, package_zip(arguments=args)), 201)["appId"]
    post = lambda body: client.post("/api/v1/runs", headers=admin_headers, json={"appId": app_id, **body})  # noqa: E731
    assert "arguments.month" in error(post({}), 400)
    assert "arguments.month" in error(post({"arguments": {"month": "May"}}), 400)
    assert "'nope'" in error(post({"arguments": [{"name": "nope", "value": "1"}]}), 400)
    run_id = value(post({"arguments": {"month": 5, "token": "s3cr3t"}}), 201)["runInstanceId"]
    run = value(client.get(f"/api/v1/runs/{run_id}", headers=admin_headers))
    assert run["status"] == "pending"  # no robot online: queued, and the run says why
    assert run["waitingReason"] == "no robot that runs engine 'robotframework' is online (suppliers acme)"
    assert {"name": "token", "type": "secret", "value": "******"} in run["arguments"]
    assert "s3cr3t" not in client.get(f"/api/v1/runs/{run_id}", headers=admin_headers).get_data(as_text=True)


def test_a_run_no_robot_could_ever_take_is_refused(client, admin_headers):
    """A package whose engine no enabled supplier runs is refused at start (409), saying why,
    instead of waiting in the queue for ever."""
    value(client.post("/api/v1/suppliers", headers=admin_headers, json={"code": "acme"}), 201)
    app_id = value(upload(client, admin_headers, package_zip(engine="uipath")), 201)["appId"]
    hint = error(client.post("/api/v1/runs", headers=admin_headers, json={"appId": app_id}), 409, 10409)
    assert "no enabled supplier runs engine 'uipath'" in hint
    assert value(client.get("/api/v1/runs", headers=admin_headers))["total"] == 0


def test_a_run_for_a_named_robot_says_what_it_waits_for(client, admin_headers):
    """A pending run on a requested robot that is offline says so in waitingReason."""
    from protocol.secret import build_supplier_secret

    secret = value(client.post("/api/v1/suppliers", headers=admin_headers, json={"code": "acme"}), 201)[
        "secret"
    ]
    body = {"supplierCode": "acme", "supplierSecret": build_supplier_secret("w1", "acme", secret)}
    assert client.post("/robots/connect/register", json=body, headers={"robotId": "w1"}).status_code == 200
    value(client.post("/api/v1/robots/w1/state", headers=admin_headers, json={"state": "disabled"}))
    value(client.post("/api/v1/robots/w1/state", headers=admin_headers, json={"state": "enabled"}))
    app_id = value(upload(client, admin_headers, package_zip()), 201)["appId"]
    run_id = value(
        client.post("/api/v1/runs", headers=admin_headers, json={"appId": app_id, "robotId": "w1"}), 201
    )["runInstanceId"]
    assert (
        value(client.get(f"/api/v1/runs/{run_id}", headers=admin_headers))["waitingReason"]
        == "robot w1 is offline"
    )


def test_unknown_app_and_run_are_404(client, admin_headers):
    """Unknown ids answer 404 in the envelope."""
    error(client.post("/api/v1/runs", headers=admin_headers, json={"appId": "a_missing"}), 404, 10404)
    error(client.get("/api/v1/runs/r_missing", headers=admin_headers), 404, 10404)
    error(client.get("/api/v1/no-such-endpoint", headers=admin_headers), 404, 10404)


def test_stop_a_queued_run_cancels_it_and_records_why(client, admin_headers):
    """A run still in the queue is cancelled at once; the transition names who did it."""
    value(client.post("/api/v1/suppliers", headers=admin_headers, json={"code": "acme"}), 201)
    app_id = value(upload(client, admin_headers, package_zip()), 201)["appId"]
    run_id = value(client.post("/api/v1/runs", headers=admin_headers, json={"appId": app_id}), 201)[
        "runInstanceId"
    ]
    assert value(client.post(f"/api/v1/runs/{run_id}/stop", headers=admin_headers))["status"] == "cancelled"
    items = value(client.get(f"/api/v1/runs/{run_id}/transitions", headers=admin_headers))["items"]
    assert [(t["fromStatus"], t["toStatus"]) for t in items] == [("", "pending"), ("pending", "cancelled")]
    assert "user:admin" in items[-1]["cause"]
    error(client.post(f"/api/v1/runs/{run_id}/stop", headers=admin_headers), 409, 10409)


def test_openapi_is_generated_from_the_models(client):
    """The OpenAPI document lists the core endpoints with the schemas that validate requests."""
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    for path in (
        "/api/v1/runs",
        "/api/v1/runs/{run_id}",
        "/api/v1/suppliers",
        "/api/v1/auth/token",
        "/api/v1/apps",
    ):
        assert path in doc["paths"], path
    run_create = doc["components"]["schemas"]["RunCreate"]
    assert "appId" in run_create["required"]
    assert client.get("/api/docs").status_code == 200


def test_health_and_readiness(client):
    """/healthz says alive; /readyz checks the database and the queue."""
    assert value(client.get("/healthz"))["status"] == "alive"
    assert value(client.get("/readyz")) == {"database": "ok", "redis": "ok"}


def test_status_page_requires_sign_in(client):
    """The status page redirects to the sign-in form; a wrong password is told next to the form."""
    assert client.get("/").status_code == 302
    page = client.get("/login").get_data(as_text=True)
    assert "登录" in page
    # CSRF is on: a post without the token is refused with the form shown again.
    resp = client.post("/login", data={"username": "admin", "password": "x"})
    assert resp.status_code == 400 and "页面已过期" in resp.get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    resp = client.post("/login", data={"username": "admin", "password": "wrong", "csrf_token": token})
    assert resp.status_code == 401 and "用户名或密码错误" in resp.get_data(as_text=True)
    resp = client.post(
        "/login", data={"username": "admin", "password": "admin-test-pass", "csrf_token": token}
    )
    assert resp.status_code == 302
    assert "在线执行器" in client.get("/").get_data(as_text=True)


def test_requests_without_the_portal_cookie_skip_the_cookie_session(app, client, admin_headers, monkeypatch):
    """API and executor requests carry no session cookie: they get an empty session without the
    signing work, and no cookie back; a portal request with the cookie still reads it (above)."""
    built = []
    real = type(app.session_interface).get_signing_serializer
    monkeypatch.setattr(
        type(app.session_interface),
        "get_signing_serializer",
        lambda self, a: built.append(1) or real(self, a),
    )
    api = app.test_client()  # no cookie jar shared with the sign-in flow
    resp = api.get("/api/v1/runs", headers=admin_headers)
    assert resp.status_code == 200 and "Set-Cookie" not in resp.headers
    assert api.get("/healthz").status_code == 200
    assert built == []
    page = client.get("/login")  # the portal's form puts its CSRF token in the session
    assert page.status_code == 200 and "Set-Cookie" in page.headers and built
