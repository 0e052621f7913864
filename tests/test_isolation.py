"""Two apps in one process share nothing: robot sessions, caches, Redis, writers and jobs are per app.

This is what lets a node and an HQ (or two nodes) run in one test process without seeing each other.
"""

from __future__ import annotations

import pytest
from flask_migrate import upgrade

from common.auth.services import ensure_admin
from config import settings
from node import create_app
from protocol.secret import build_supplier_secret
from tests.support import ADMIN_PASSWORD

KEYS = ("rpa", "rpa.auth", "rpa.robots", "rpa.runs", "rpa.hub", "rpa.packages")


def _node(path, **overrides):
    app = create_app(settings.TestingConfig(data_dir=str(path), **overrides))
    with app.app_context():
        upgrade()
        ensure_admin(ADMIN_PASSWORD)
    return app


@pytest.fixture
def two_nodes(tmp_path):
    a = _node(tmp_path / "a")
    b = _node(tmp_path / "b", node_code="other", heartbeat_interval=3.0)
    yield a, b
    for app in (a, b):
        with app.app_context():
            from common.db import db

            db.session.remove()
            db.engine.dispose()


def _register(app, robot_id: str) -> None:
    client = app.test_client()
    token = client.post("/api/v1/auth/token", json={"username": "admin", "password": ADMIN_PASSWORD})
    headers = {"Authorization": "Bearer " + token.get_json()["resultValue"]["token"]}
    secret = client.post("/api/v1/suppliers", json={"code": "acme"}, headers=headers).get_json()
    raw = secret["resultValue"]["secret"]
    body = {"supplierCode": "acme", "supplierSecret": build_supplier_secret(robot_id, "acme", raw)}
    r = client.post("/robots/connect/register", json=body, headers={"robotId": robot_id})
    assert r.status_code == 200, r.get_json()
    client.get("/api/v1/robots", headers=headers)  # the token is now in this app's cache


def test_every_runtime_part_is_the_apps_own(two_nodes):
    """No runtime object, Redis client or config is shared between the two apps."""
    a, b = two_nodes
    for key in KEYS:
        assert a.extensions[key] is not b.extensions[key], key
    ra, rb = a.extensions["rpa.robots"], b.extensions["rpa.robots"]
    assert ra.bus is not rb.bus and ra.presence is not rb.presence and ra.engines is not rb.engines
    assert a.extensions["rpa.runs"].desk is not b.extensions["rpa.runs"].desk
    assert a.extensions["rpa"].ticker is not b.extensions["rpa"].ticker
    assert a.extensions["rpa"].config.heartbeat_interval != b.extensions["rpa"].config.heartbeat_interval


def test_what_one_app_learns_stays_in_it(two_nodes):
    """A robot registered, a token used and a nonce seen on one node leave the other untouched."""
    a, b = two_nodes
    _register(a, "iso-1")
    assert set(a.extensions["rpa.hub"].http_sessions) == {"iso-1"}
    assert b.extensions["rpa.hub"].http_sessions == {}
    assert len(a.extensions["rpa.auth"]) == 1
    assert len(b.extensions["rpa.auth"]) == 0
    assert a.extensions["rpa.robots"].engines.value == {"acme": {"robotframework"}}
    assert b.extensions["rpa.robots"].engines.value is None
    ra, rb = a.extensions["rpa"].redis, b.extensions["rpa"].redis
    assert ra.get("rpa:cid:iso-1") is not None  # the connection id, in a's in-process Redis only
    assert rb.get("rpa:cid:iso-1") is None
    assert ra.keys("rpa:nonce:*") and not rb.keys("rpa:nonce:*")
