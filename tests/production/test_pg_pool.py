"""PostgreSQL with a small pool and no overflow: a run start never holds one pooled connection while
it waits for another, or for the run desk (which needs one too)."""

from __future__ import annotations

import io
import time

import gevent
import pytest

from common.db import db
from node.packages.publish import publish_package
from node.robots import suppliers
from node.robots.models import Robot
from tests.support import ADMIN_PASSWORD, package_zip


@pytest.fixture
def small_pool_app(tmp_path, postgres_url, redis_url):
    from flask_migrate import upgrade

    from common.auth.services import ensure_admin
    from config.settings import TestingConfig
    from node import create_app

    app = create_app(
        TestingConfig(
            data_dir=str(tmp_path / "data"), database_url=postgres_url, redis_url=redis_url, db_pool_size=2
        )
    )
    with app.app_context():
        upgrade()
        ensure_admin(ADMIN_PASSWORD)
        suppliers.add_supplier("acme", "Acme", ["robotframework"], actor="test")
        for i in range(4):
            db.session.add(Robot(id=f"q{i}", supplier_code="acme", state="enabled", online=True))
        db.session.commit()
        application, _ = publish_package(io.BytesIO(package_zip()), name="hello", actor="test")
        app.config["TEST_APP_ID"] = application.id
        db.session.remove()
    app.extensions["rpa.runs"].desk.start()
    yield app
    app.extensions["rpa.runs"].desk.stop()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_concurrent_run_starts_with_uncached_tokens_do_not_exhaust_a_two_connection_pool(small_pool_app):
    """Each start authenticates through the session (token not cached), then reads and waits for the
    desk: with the session's connection still held, two starts took both connections and waited for
    a third (30 s, then a 500)."""
    app = small_pool_app
    client = app.test_client()
    token = client.post("/api/v1/auth/token", json={"username": "admin", "password": ADMIN_PASSWORD})
    headers = {"Authorization": "Bearer " + token.get_json()["resultValue"]["token"]}

    def start() -> int:
        app.extensions[
            "rpa.auth"
        ].clear()  # the token is looked up in the database: the session holds a connection
        r = app.test_client().post("/api/v1/runs", json={"appId": app.config["TEST_APP_ID"]}, headers=headers)
        return r.status_code

    t0 = time.monotonic()
    jobs = [gevent.spawn(start) for _ in range(4)]
    gevent.joinall(jobs, timeout=20)
    assert [job.value for job in jobs] == [201, 201, 201, 201]
    assert time.monotonic() - t0 < 10
