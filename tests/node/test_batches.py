"""Group commit of the run hot path: concurrent starts and finishes share transactions, and each
caller still gets its own, correct answer."""

from __future__ import annotations

import io

import gevent
import pytest
from sqlalchemy import func, select

from common.audit import verify_chain
from common.db import db
from common.envelope import ApiError
from node.packages.publish import publish_package
from node.robots import suppliers
from node.robots.models import Robot, RobotCommand
from node.runs import services as runs
from node.runs.models import RunInstance, RunTransition
from node.runs.runtime import runs_runtime
from node.runs.services import RunOptions
from tests.support import package_zip


@pytest.fixture
def desk(app):
    """Five online robots, one app, and the node's group-commit writers running."""
    with app.app_context():
        suppliers.add_supplier("acme", "Acme", ["robotframework"], actor="test")
        for i in range(5):
            db.session.add(Robot(id=f"b{i}", supplier_code="acme", state="enabled", online=True))
        db.session.commit()
        application, _ver = publish_package(io.BytesIO(package_zip()), name="hello", actor="test")
        app_id = application.id
        db.session.remove()
    desk = app.extensions["rpa.runs"].desk
    desk.start()
    yield app, app_id
    desk.stop()


def _in_app(app, fn, *args):
    with app.app_context():
        try:
            return fn(*args)
        except ApiError as exc:
            return exc
        finally:
            db.session.remove()


def _start(app, app_id):
    return _in_app(app, runs.start_run, app_id, None, None, "1", "admin", RunOptions())


def test_concurrent_starts_share_commits_and_never_double_book(desk):
    app, app_id = desk
    jobs = [gevent.spawn(_start, app, app_id) for _ in range(8)]
    gevent.joinall(jobs, raise_error=True)
    started = [job.value for job in jobs]
    with app.app_context():
        assert runs_runtime().desk.batches < 8, "eight concurrent starts should not need eight commits"
        dispatched = [r for r in started if r.status == "dispatched"]
        assert len(dispatched) == 5 and len({r.robot_id for r in dispatched}) == 5
        assert sum(r.status == "pending" for r in started) == 3
        for r in dispatched:
            robot = db.session.get(Robot, r.robot_id)
            assert robot.current_run_id == r.id
            inbox = db.session.scalars(select(RobotCommand).where(RobotCommand.robot_id == r.robot_id)).all()
            assert [(c.action, c.run_instance_id) for c in inbox] == [("Execute", r.id)]
        steps = db.session.execute(
            select(RunTransition.run_instance_id, func.count()).group_by(RunTransition.run_instance_id)
        ).all()
        expected = {r.id: 2 if r.status == "dispatched" else 1 for r in started}
        assert dict(steps) == expected
        report = verify_chain()
        assert report.ok and report.events >= 8


def test_finishes_in_one_batch_each_get_their_answer(desk):
    app, app_id = desk
    started = [_start(app, app_id) for _ in range(6)]  # five dispatched, one queued
    queued = next(r for r in started if r.status == "pending")
    first, second = [r for r in started if r.status == "dispatched"][:2]
    jobs = [
        gevent.spawn(_in_app, app, runs.finish_run, first.robot_id, first.id, 0, None),
        gevent.spawn(_in_app, app, runs.finish_run, first.robot_id, first.id, 0, None),  # a repeat
        gevent.spawn(_in_app, app, runs.finish_run, second.robot_id, first.id, 2, 7),  # not its run
        gevent.spawn(_in_app, app, runs.finish_run, second.robot_id, second.id, 2, 7),
    ]
    gevent.joinall(jobs, raise_error=True)
    answers = [job.value for job in jobs]
    assert sorted(answers[:2]) == [False, True], "exactly one of the two repeats makes the run final"
    assert isinstance(answers[2], ApiError) and answers[2].code == 10006
    assert answers[3] is True
    with app.app_context():
        assert db.session.get(RunInstance, first.id).status == "succeeded"
        failed = db.session.get(RunInstance, second.id)
        assert (failed.status, failed.error_code) == ("failed", 7)
        # The queued run went to one of the two freed robots in the same commit.
        nxt = db.session.get(RunInstance, queued.id)
        assert nxt.status == "dispatched" and nxt.robot_id in {first.robot_id, second.robot_id}
        assert verify_chain().ok
