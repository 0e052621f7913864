"""Shared fixtures: an in-process node app, a real node process, and the production services."""

from __future__ import annotations

import os
import uuid

import pytest

from tests.support import ADMIN_PASSWORD, IN_CI, LiveNode


@pytest.fixture
def app(tmp_path):
    """A node app in embedded mode on a fresh data dir, migrated, with an admin."""
    from flask_migrate import upgrade

    from common.auth.services import ensure_admin
    from config.settings import TestingConfig
    from node import create_app

    application = create_app(TestingConfig(data_dir=str(tmp_path / "data")))
    with application.app_context():
        upgrade()
        ensure_admin(ADMIN_PASSWORD)
    yield application
    with application.app_context():
        from common.db import db

        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def admin_headers(client):
    r = client.post("/api/v1/auth/token", json={"username": "admin", "password": ADMIN_PASSWORD})
    return {"Authorization": "Bearer " + r.get_json()["resultValue"]["token"]}


@pytest.fixture
def live_node(tmp_path):
    """A real node process (``rpa node run``) with fast timers; stopped at the end of the test."""
    node = LiveNode(tmp_path / "node").start()
    yield node
    node.stop()


@pytest.fixture
def make_node(tmp_path):
    """Factory for extra real node processes: ``make_node(env={...})``."""
    nodes: list[LiveNode] = []

    def _make(env: dict | None = None, name: str | None = None) -> LiveNode:
        node = LiveNode(tmp_path / (name or f"node-{uuid.uuid4().hex[:6]}"), env=env).start()
        nodes.append(node)
        return node

    yield _make
    for node in nodes:
        node.stop()


def _service(var: str, what: str) -> str:
    url = os.environ.get(var)
    if url:
        return url
    if IN_CI:
        pytest.fail(f"{var} is not set: CI must provide {what}")
    pytest.skip(f"{var} is not set: no {what} here (CI runs this test for real)")


@pytest.fixture
def redis_url() -> str:
    """A real Redis server (``RPA_TEST_REDIS_URL``); flushed before use."""
    import redis

    url = _service("RPA_TEST_REDIS_URL", "a Redis server")
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture
def postgres_url() -> str:
    """A fresh, empty PostgreSQL database for the test (``RPA_TEST_DATABASE_URL`` points at the server)."""
    import sqlalchemy as sa

    base = _service("RPA_TEST_DATABASE_URL", "a PostgreSQL server")
    name = "rpa_test_" + uuid.uuid4().hex[:10]
    engine = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(base).set(database=name).render_as_string(hide_password=False)
    yield url
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()
