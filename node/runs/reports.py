"""What robots report, the same for both transports: heartbeat, logs, finish, video.

The hub parses and authenticates a frame or request, then calls one of these with plain values; a
``RobotSession`` is what one connection remembers between messages."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import update

from common.db import db
from common.envelope import ApiError
from common.timeutil import utcnow
from node.robots.models import Robot
from node.robots.runtime import robots_runtime
from node.runs import lifecycle
from node.runs import services as runs
from node.runs.dispatch import dispatch_for_robot
from node.runs.models import RunInstance
from node.runs.runtime import runs_runtime
from node.runtime import runtime
from protocol.codes import UNKNOWN_RUN

log = logging.getLogger(__name__)

_UNSET = object()


class RobotSession:
    """What one connection remembers between messages (avoids database reads on the hot path)."""

    __slots__ = ("robot_id", "connect_id", "reported_run", "running", "owned")

    def __init__(self, robot_id: str, connect_id: str) -> None:
        self.robot_id = robot_id
        self.connect_id = connect_id
        self.reported_run: object = _UNSET
        self.running: set[str] = set()
        # runInstanceId → (checked at, attempt, status, finished_at): ownership read at most every
        # OWNERSHIP_TTL seconds per run, not once per ReportLogs.
        self.owned: dict[str, tuple[float, int, str, object]] = {}


# How long a connection trusts what it read of a run. This connection's own ReportFinish drops the
# entry at once; a change made elsewhere (failover, timeout, stop) is seen within this time. Lines a
# robot sends meanwhile keep the attempt number it was given, so they are never mixed with another
# attempt's. At 10 s an executor sending logs every few seconds reads its run once, not per batch.
OWNERSHIP_TTL = 10.0


def _ownership(sess: RobotSession, run_id: str) -> tuple[int, str, object]:
    """(attempt, status, finished_at) of a run this robot executes; ApiError 10006 otherwise."""
    now = time.monotonic()
    hit = sess.owned.get(run_id)
    if hit is not None and now - hit[0] < OWNERSHIP_TTL:
        return hit[1], hit[2], hit[3]
    run = runs.owned_run(sess.robot_id, run_id)
    if len(sess.owned) > 16:
        sess.owned.clear()
    sess.owned[run_id] = (now, run.attempt, run.status, run.finished_at)
    return run.attempt, run.status, run.finished_at


class LogLine(Protocol):
    """A validated RunInstanceLog (the hub's parsed item)."""

    content: str
    screenshot: str | None
    logAt: datetime
    logLevel: int


def heartbeat(sess: RobotSession, run_id: str | None, metrics: dict | None) -> None:
    """Touch presence in memory; reach the database only when the run the executor names changes."""
    robots_runtime().presence.touch(sess.robot_id, metrics)
    if run_id == sess.reported_run:
        return
    sess.reported_run = run_id
    if run_id:
        if run_id not in sess.running:
            runs.mark_running(sess.robot_id, run_id, "first heartbeat naming the run")
            sess.running.add(run_id)
        return
    _runs_nothing(sess.robot_id)


def _runs_nothing(robot_id: str) -> None:
    """The executor says it runs nothing: a run it was running (not merely dispatched) is lost; a
    finished run it still held is let go, and the robot is offered the next queued run."""
    robot = db.session.get(Robot, robot_id)
    current = db.session.get(RunInstance, robot.current_run_id) if robot and robot.current_run_id else None
    if current is not None and current.status in (lifecycle.RUNNING, lifecycle.STOPPING):
        runs.interrupt(robot_id, "executor reports it no longer runs this run")
    elif current is not None and current.status in lifecycle.FINAL:
        db.session.execute(
            update(Robot)
            .where(Robot.id == robot_id, Robot.current_run_id == current.id)
            .values(current_run_id=None)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
        dispatch_for_robot(robot_id)
    else:
        db.session.rollback()


def report_logs(sess: RobotSession, run_id: str, logs: Sequence[LogLine]) -> int:
    """Validate ownership and the grace window, then write the lines durably (group commit)."""
    attempt, status, finished_at = _ownership(sess, run_id)
    grace = timedelta(seconds=runtime().config.log_grace_seconds)
    if status in lifecycle.FINAL and finished_at and finished_at < utcnow() - grace:
        raise ApiError(UNKNOWN_RUN, "runInstanceId: run ended more than the log grace period ago")
    db.session.rollback()  # end the read transaction before waiting on the writer
    rows = [
        {
            "run_instance_id": run_id,
            "attempt": attempt,
            "robot_id": sess.robot_id,
            "content": item.content,
            "screenshot": item.screenshot,
            "log_at": item.logAt,
            "log_level": item.logLevel,
        }
        for item in logs
    ]
    runs_runtime().logs.write(rows)
    robots_runtime().presence.touch(sess.robot_id)
    if status == lifecycle.DISPATCHED and run_id not in sess.running:
        runs.mark_running(sess.robot_id, run_id, "first log naming the run")
        sess.running.add(run_id)
    return len(rows)


def report_finish(sess: RobotSession, run_id: str, status: int, error_code: int | None) -> bool:
    """ReportFinish: the run's final state, exactly once (see ``services.finish_run``)."""
    sess.running.discard(run_id)
    sess.owned.pop(run_id, None)
    return runs.finish_run(sess.robot_id, run_id, status, error_code)


def report_video(sess: RobotSession, run_id: str, video_id: str) -> None:
    """ReportVideoRecord: the run's screen recording (accepted after ReportFinish only)."""
    runs.set_video(sess.robot_id, run_id, video_id)
