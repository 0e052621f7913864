"""Protocol actions, the same for both transports: heartbeat, logs, finish, video, command pickup."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from sqlalchemy import update

from common.db import db
from common.envelope import UNKNOWN_RUN, ApiError
from common.timeutil import utcnow
from node.context import runtime
from node.hub.protocol import HeartbeatBody, ReportFinishBody, ReportLogsBody, ReportVideoBody
from node.schedule import lifecycle, runs
from node.schedule.dispatch import dispatch_for_robot
from node.schedule.models import Robot, RunInstance

log = logging.getLogger(__name__)

_UNSET = object()


class Session:
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


def _ownership(sess: Session, run_id: str) -> tuple[int, str, object]:
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


def heartbeat(sess: Session, body: HeartbeatBody) -> None:
    """Touch presence in memory; reach the database only when the run the executor names changes."""
    rt = runtime()
    metrics = body.metrics.model_dump() if body.metrics else None
    rt.presence.touch(sess.robot_id, metrics)
    run_id = body.runInstanceId
    if run_id == sess.reported_run:
        return
    sess.reported_run = run_id
    if run_id:
        if run_id not in sess.running:
            runs.mark_running(sess.robot_id, run_id, "first heartbeat naming the run")
            sess.running.add(run_id)
        return
    # The executor says it runs nothing: a run it was running (not merely dispatched) is lost.
    robot = db.session.get(Robot, sess.robot_id)
    current = db.session.get(RunInstance, robot.current_run_id) if robot and robot.current_run_id else None
    if current is not None and current.status in (lifecycle.RUNNING, lifecycle.STOPPING):
        runs.interrupt(sess.robot_id, "executor reports it no longer runs this run")
    elif current is not None and current.status in lifecycle.FINAL:
        db.session.execute(
            update(Robot)
            .where(Robot.id == sess.robot_id, Robot.current_run_id == current.id)
            .values(current_run_id=None)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
        dispatch_for_robot(sess.robot_id)
    else:
        db.session.rollback()


def report_logs(sess: Session, body: ReportLogsBody) -> int:
    """Validate ownership and the grace window, then write the lines durably (group commit)."""
    rt = runtime()
    attempt, status, finished_at = _ownership(sess, body.runInstanceId)
    grace = timedelta(seconds=rt.config.log_grace_seconds)
    if status in lifecycle.FINAL and finished_at and finished_at < utcnow() - grace:
        raise ApiError(UNKNOWN_RUN, "runInstanceId: run ended more than the log grace period ago")
    db.session.rollback()  # end the read transaction before waiting on the writer
    rows = [
        {
            "run_instance_id": body.runInstanceId,
            "attempt": attempt,
            "robot_id": sess.robot_id,
            "content": item.content,
            "screenshot": item.screenshot,
            "log_at": item.logAt,
            "log_level": item.logLevel,
        }
        for item in body.logs
    ]
    rt.logs.write(rows)
    rt.presence.touch(sess.robot_id)
    if status == lifecycle.DISPATCHED and body.runInstanceId not in sess.running:
        runs.mark_running(sess.robot_id, body.runInstanceId, "first log naming the run")
        sess.running.add(body.runInstanceId)
    return len(rows)


def report_finish(sess: Session, body: ReportFinishBody) -> bool:
    sess.running.discard(body.runInstanceId)
    sess.owned.pop(body.runInstanceId, None)
    return runs.finish_run(sess.robot_id, body.runInstanceId, body.status, body.errorCode)


def report_video(sess: Session, body: ReportVideoBody) -> None:
    runs.set_video(sess.robot_id, body.runInstanceId, body.videoId)
