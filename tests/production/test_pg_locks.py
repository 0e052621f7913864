"""PostgreSQL, several processes: robot rows held by another transaction are skipped, not waited
for, by the presence flush and by run dispatch (waiting on each other was a deadlock: 1 s, then a
batch failed and was replayed)."""

from __future__ import annotations

import io
import time

import gevent
import pytest
import sqlalchemy as sa

from common.db import db
from common.timeutil import utcnow
from node.packages.publish import publish_package
from node.robots import suppliers
from node.robots.models import Robot
from node.runs import services as runs
from node.runs.services import RunOptions
from tests.support import package_zip


@pytest.fixture
def pg_app(tmp_path, postgres_url, redis_url):
    from flask_migrate import upgrade

    from config.settings import TestingConfig
    from node import create_app

    # a wait that this fix removed fails the test after 2 s instead of hanging it
    url = sa.engine.make_url(postgres_url).update_query_dict({"options": "-c lock_timeout=2000"})
    app = create_app(
        TestingConfig(
            data_dir=str(tmp_path / "data"),
            database_url=url.render_as_string(hide_password=False),
            redis_url=redis_url,
        )
    )
    with app.app_context():
        upgrade()
        suppliers.add_supplier("acme", "Acme", ["robotframework"], actor="test")
        db.session.add(Robot(id="p1", supplier_code="acme", state="enabled", online=True))
        db.session.add(  # dispatched before: p1 is offered first
            Robot(id="p2", supplier_code="acme", state="enabled", online=True, last_dispatch_at=utcnow())
        )
        db.session.commit()
        application, _ = publish_package(io.BytesIO(package_zip()), name="hello", actor="test")
        app.config["TEST_APP_ID"] = application.id
        db.session.remove()
    other = sa.create_engine(postgres_url)  # "another process": its own connection and transaction
    yield app, other
    other.dispose()
    app.extensions["rpa.robots"].bus.close()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _last_seen(app) -> dict:
    with app.app_context():
        out = dict(db.session.execute(sa.select(Robot.id, Robot.last_seen_at)).all())
        db.session.remove()
        return out


def test_presence_skips_a_robot_row_held_elsewhere_and_writes_it_next_time(pg_app):
    """The flush does not wait for a held row; it writes it on the next flush."""
    app, other = pg_app
    presence = app.extensions["rpa.robots"].presence
    with other.connect() as conn, conn.begin():
        conn.execute(sa.text("SELECT id FROM robot WHERE id = 'p1' FOR UPDATE"))
        presence.touch("p1")
        presence.touch("p2")
        t0 = time.monotonic()
        assert presence.flush() == 1  # p2 written, p1 left for the next flush
        assert time.monotonic() - t0 < 0.5  # not waited for
        seen = _last_seen(app)
        assert seen["p2"] is not None and seen["p1"] is None
    assert presence.flush() == 1  # the lock is gone: p1 now
    assert _last_seen(app)["p1"] is not None


def test_a_run_start_skips_a_robot_row_held_elsewhere(pg_app):
    """A claim does not wait for a held robot row; the run goes to the next idle robot."""
    app, other = pg_app
    with other.connect() as conn, conn.begin():
        conn.execute(sa.text("SELECT id FROM robot WHERE id = 'p1' FOR UPDATE"))
        with app.app_context():
            t0 = time.monotonic()
            started = runs.start_run(app.config["TEST_APP_ID"], None, None, "1", "admin", RunOptions())
            elapsed = time.monotonic() - t0
            db.session.remove()
    assert elapsed < 0.5 and started.status == "dispatched" and started.robot_id == "p2"


def test_an_app_listens_to_the_bus_only_once_started(pg_app):
    """The factory starts no background work: a process that is not monkey-patched (a CLI, an RQ
    job, this test) must never run a Redis listener, which would block it in a socket read."""
    app, _other = pg_app
    bus = app.extensions["rpa.robots"].bus
    assert bus._listener is None
    gevent.sleep(0.01)  # with a listener spawned by the factory, this never returned
    bus.start()
    assert bus._listener is not None
    bus.close()
