"""Hostile input at the node's edges gets the envelope naming the field, never a 500.

Deep nesting, integers too large for any database, control characters, and packages whose zip
lies: each is refused with 10001/10007/10404 and a hint, on the API and the protocol alike.
"""

from __future__ import annotations

import io
import json
import stat
import zipfile

import pytest

from protocol.secret import build_supplier_secret
from tests.node.test_api import error, upload, value
from tests.support import package_zip

DEEP = "[" * 10_000 + "]" * 10_000
NESTED_OBJECT = '{"a":' * 40 + "1" + "}" * 40


@pytest.mark.parametrize(
    "path, headers",
    [
        ("/api/v1/auth/token", {}),
        ("/robots/connect/register", {"robotId": "r1"}),
        ("/robots/connect/heartbeat", {"robotId": "r1", "robotConnectId": "c_x"}),
    ],
)
def test_a_body_nested_ten_thousand_deep_is_a_400(client, path, headers):
    """Anonymous and robot endpoints answer deep nesting with 10001, not a RecursionError 500."""
    r = client.post(path, data=DEEP, headers={**headers, "Content-Type": "application/json"})
    assert r.status_code in (400, 401), r.get_data(as_text=True)[:200]
    if path != "/robots/connect/heartbeat":  # the heartbeat authenticates first (10003)
        assert r.get_json()["resultValue"]["errorCode"] == 10001
        assert "nested" in r.get_json()["resultHint"]


def test_the_api_bounds_nesting_even_below_the_parsers_limit(client, admin_headers):
    """An API body nested 40 deep (which the parser takes) is refused: no body of ours needs it."""
    hint = error(
        client.post(
            "/api/v1/runs", data=NESTED_OBJECT, headers={**admin_headers, "Content-Type": "application/json"}
        ),
        400,
    )
    assert "nested deeper than 32" in hint


def test_a_json_body_over_the_limit_is_refused_before_it_is_read(client):
    """An anonymous 2 MiB JSON body to /auth/token is a 413, not a parse of 2 MiB."""
    big = json.dumps({"username": "a" * (2 * 2**20), "password": "x"})
    r = client.post("/api/v1/auth/token", data=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.get_json()["resultValue"]["errorCode"] == 10007


@pytest.mark.parametrize("offset", ["9223372036854775808", str(10**30), "-1"])
def test_integers_out_of_range_name_the_field(client, admin_headers, offset):
    """offset beyond what a database stores is a 400 naming offset (on every list endpoint)."""
    for path in ("/api/v1/robots", "/api/v1/runs", "/api/v1/apps", "/api/v1/me/files"):
        hint = error(client.get(f"{path}?offset={offset}", headers=admin_headers), 400)
        assert hint.startswith("offset:"), (path, hint)


def test_a_license_id_too_large_is_a_404(client, admin_headers):
    """A path id no row can have is 10404, not an overflow in the driver."""
    r = client.post(f"/api/v1/licenses/{2**63}/bind", json={"robotId": "x"}, headers=admin_headers)
    assert r.status_code == 404 and r.get_json()["resultValue"]["errorCode"] == 10404


@pytest.mark.parametrize("text", ["ac\x00me", "ac\x07me", "x\x1b[31m"])
def test_control_characters_are_refused_in_both_modes(client, admin_headers, text):
    """NUL and other control characters in names are refused, naming the field (PostgreSQL cannot
    store NUL; SQLite would, so embedded mode must refuse it too)."""
    hint = error(
        client.post("/api/v1/suppliers", json={"code": "acme", "name": text}, headers=admin_headers), 400
    )
    assert hint.startswith("name:") and "control character" in hint
    hint = error(
        client.post("/api/v1/licenses", json={"name": text, "content": "L"}, headers=admin_headers), 400
    )
    assert hint.startswith("name:")
    hint = error(upload(client, admin_headers, package_zip(), name=text), 400)
    assert hint.startswith("name:")


def test_register_refuses_control_characters_in_the_version(client, admin_headers):
    """The executor's version is stored: a NUL in it is 10001 naming version."""
    secret = value(client.post("/api/v1/suppliers", json={"code": "acme"}, headers=admin_headers), 201)[
        "secret"
    ]
    body = {
        "supplierCode": "acme",
        "supplierSecret": build_supplier_secret("r1", "acme", secret),
        "version": "1\x00",
    }
    hint = error(client.post("/robots/connect/register", json=body, headers={"robotId": "r1"}), 400)
    assert hint.startswith("version:")


def _zip(
    entries: list[tuple[str, bytes]], *, symlink: str | None = None, manifest: dict | None = None
) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(
            "manifest.json",
            json.dumps(manifest or {"name": "evil", "version": "1.0", "entry": "tasks.robot"}),
        )
        zf.writestr("tasks.robot", "*** Tasks ***\nT\n    Log    x\n")
        for name, data in entries:
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return buf.getvalue()


def _duplicate_names() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("manifest.json", json.dumps({"name": "dup", "version": "1.0", "entry": "tasks.robot"}))
        zf.writestr("tasks.robot", "a")
        with pytest.warns(UserWarning):
            zf.writestr("tasks.robot", "b")
    return buf.getvalue()


@pytest.mark.parametrize(
    "data, entry, reason",
    [
        (_zip([("../../evil.txt", b"x")]), "../../evil.txt", "'..'"),
        (_zip([("/etc/evil", b"x")]), "/etc/evil", "absolute"),
        (_zip([("C:/evil", b"x")]), "C:/evil", "absolute"),
        (_zip([("dir\\evil", b"x")]), "dir\\evil", "backslash"),
        (_zip([], symlink="link"), "link", "symbolic link"),
        (_zip([("bomb.bin", b"\0" * (50 * 2**20))]), "bomb.bin", "compressed more than"),
    ],
)
def test_unsafe_packages_are_refused_naming_the_entry(client, admin_headers, data, entry, reason):
    """Zip-slip paths, links and bombs are refused from the central directory, naming the entry;
    nothing is stored."""
    hint = error(upload(client, admin_headers, data), 400)
    assert entry in hint and reason in hint, hint
    assert value(client.get("/api/v1/apps", headers=admin_headers))["total"] == 0


def test_duplicate_names_are_refused(client, admin_headers):
    """Two entries with one name: which one an executor extracts would be a guess."""
    hint = error(upload(client, admin_headers, _duplicate_names()), 400)
    assert "duplicate name" in hint


def test_a_manifest_bomb_is_never_inflated(client, admin_headers):
    """manifest.json inflating to 64 MiB is refused after reading at most its limit."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", b" " * (64 * 2**20))
        zf.writestr("tasks.robot", "x")
    hint = error(upload(client, admin_headers, buf.getvalue()), 400)
    assert "manifest.json" in hint


def test_a_suite_folder_is_a_valid_entry(client, admin_headers):
    """``entry`` may name a folder of suites (as ``robot DIR`` runs a project)."""
    data = _zip(
        [("suites/a.robot", b"*** Tasks ***\nA\n    Log    a\n")],
        manifest={"name": "proj", "version": "1.0", "entry": "suites"},
    )
    created = value(upload(client, admin_headers, data, name="proj"), 201)
    assert created["version"] == "1.0"
    missing = _zip([], manifest={"name": "proj", "version": "2.0", "entry": "nowhere"})
    assert "manifest.entry" in error(upload(client, admin_headers, missing, name="proj"), 400)
