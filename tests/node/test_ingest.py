"""Log ingest's writer: a bad message fails alone, and SQLite's work runs off the event loop."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime

import gevent
from sqlalchemy import func, select

from common.db import db
from node.context import runtime
from node.schedule.models import RunInstanceLog


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
        writer = runtime().logs
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


NATIVE_PROBE = textwrap.dedent(
    """
    from gevent import monkey
    monkey.patch_all()
    import sqlite3, sys, gevent
    from common.native import in_native_thread

    conn = sqlite3.connect(":memory:", check_same_thread=False)
    slow = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) SELECT sum(x) FROM c"
    ticks = 0

    def ticker():
        global ticks
        while True:
            gevent.sleep(0.001)
            ticks += 1

    t = gevent.spawn(ticker)
    gevent.sleep(0.01)
    before = ticks
    total = in_native_thread(lambda: conn.execute(slow).fetchone()[0])
    during = ticks - before
    try:
        in_native_thread(conn.execute, "SELECT * FROM no_such_table")
        raised = "no"
    except sqlite3.OperationalError:
        raised = "yes"
    before = ticks
    conn.execute(slow).fetchone()  # the same statement on the loop's own thread
    inline = ticks - before
    t.kill()
    print(total, during, inline, raised)
    """
)


def test_native_thread_keeps_the_loop_running_during_a_long_statement():
    out = subprocess.run(
        [sys.executable, "-c", NATIVE_PROBE], capture_output=True, text=True, timeout=120, check=True
    ).stdout.split()
    total, during, inline, raised = int(out[0]), int(out[1]), int(out[2]), out[3]
    assert total == 3000000 * 3000001 // 2  # the statement's own result comes back
    assert raised == "yes"  # and its error is raised in the waiting greenlet
    # The loop went on ticking while SQLite worked in the native thread; inline it could not.
    assert during >= 20, (during, inline)
    assert inline <= 2, (during, inline)


def test_outside_gevent_the_call_runs_inline():
    from common.native import in_native_thread

    assert in_native_thread(lambda a, b: (a + b, threading.current_thread()), 1, 2) == (
        3,
        threading.main_thread(),
    )
