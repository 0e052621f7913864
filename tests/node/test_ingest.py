"""Log ingest's writer: a bad message fails alone; its batch neighbours are stored."""

from __future__ import annotations

from datetime import UTC, datetime

import gevent
from sqlalchemy import func, select

from common.db import db
from node.runs.models import RunInstanceLog
from node.runs.runtime import runs_runtime


def _rows(run_id: str, n: int, content: str | None = "line") -> list[dict]:
    at = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    return [
        {
            "run_instance_id": run_id,
            "attempt": 1,
            "robot_id": "r1",
            "content": None if content is None else f"{content} {i}",
            "screenshot": None,
            "log_at": at,
            "log_level": 1,
        }
        for i in range(n)
    ]


def test_a_bad_message_fails_alone_and_its_batch_neighbours_are_stored(app):
    with app.app_context():
        writer = runs_runtime().logs
    writer.start()
    try:
        jobs = [
            gevent.spawn(writer.write, _rows("run-a", 300)),
            gevent.spawn(writer.write, _rows("run-bad", 2, content=None)),  # NOT NULL content
            gevent.spawn(writer.write, _rows("run-c", 200)),
        ]
        gevent.joinall(jobs)
    finally:
        writer.stop()
    assert jobs[0].successful() and jobs[2].successful()
    assert jobs[1].exception is not None
    with app.app_context():
        counts = dict(
            db.session.execute(
                select(RunInstanceLog.run_instance_id, func.count()).group_by(RunInstanceLog.run_instance_id)
            ).all()
        )
        first = db.session.scalars(
            select(RunInstanceLog)
            .where(RunInstanceLog.run_instance_id == "run-c")
            .order_by(RunInstanceLog.id)
        ).first()
    assert counts == {"run-a": 300, "run-c": 200}
    assert first.content == "line 0" and first.log_at == datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
