"""The lifecycle sweep (the ``runs.sweep`` periodic job of every node process): lost robots,
dispatch and run timeouts, the queue, and inbox mail whose notification was lost. Conditional
updates make concurrent sweeps harmless.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import or_, select, update

from common.db import db
from common.timeutil import utcnow
from node.robots.inbox import enqueue_command
from node.robots.models import Robot, RobotCommand
from node.robots.runtime import robots_runtime
from node.runs import lifecycle, store
from node.runs import services as runs
from node.runs.dispatch import dispatch_for_robot
from node.runs.models import RunInstance
from node.runtime import runtime
from protocol.actions import STOP

log = logging.getLogger(__name__)


def sweep_lost_robots() -> int:
    """Robots silent for ``missed_heartbeats_offline`` intervals go offline; their runs are interrupted."""
    cfg = runtime().config
    silent = cfg.offline_after
    threshold = utcnow() - timedelta(seconds=silent)
    lost = db.session.scalars(
        select(Robot.id).where(
            or_(Robot.online.is_(True), Robot.current_run_id.is_not(None)),
            or_(Robot.last_seen_at.is_(None), Robot.last_seen_at < threshold),
        )
    ).all()
    count = 0
    for robot_id in lost:
        res = db.session.execute(
            update(Robot)
            .where(Robot.id == robot_id, or_(Robot.last_seen_at.is_(None), Robot.last_seen_at < threshold))
            .values(online=False)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
        if res.rowcount:
            count += 1
            runs.interrupt(robot_id, f"executor lost: no heartbeat for {silent:.0f}s")
    return count


def sweep_timeouts() -> int:
    """Dispatched runs never started, and runs past their own timeout, become timed_out (Stop is sent)."""
    cfg = runtime().config
    now = utcnow()
    count = 0
    stuck = db.session.scalars(
        select(RunInstance).where(
            RunInstance.status == lifecycle.DISPATCHED,
            RunInstance.dispatched_at < now - timedelta(seconds=cfg.dispatch_timeout),
        )
    ).all()
    for run in stuck:
        count += _time_out(
            run, f"dispatch timeout: no heartbeat or log for {cfg.dispatch_timeout:.0f}s", free=True
        )
    active = db.session.scalars(
        select(RunInstance).where(
            RunInstance.status.in_([lifecycle.RUNNING, lifecycle.STOPPING]), RunInstance.timeout_seconds > 0
        )
    ).all()
    for run in active:
        if run.started_at and run.started_at + timedelta(seconds=run.timeout_seconds) < now:
            count += _time_out(run, f"run timeout after {run.timeout_seconds}s", free=False)
    db.session.rollback()
    return count


def _time_out(run: RunInstance, cause: str, *, free: bool) -> int:
    robot_id = run.robot_id
    try:
        lifecycle.transition(run, lifecycle.TIMED_OUT, cause)
    except lifecycle.TransitionRefused:
        db.session.rollback()
        return 0
    if robot_id:
        enqueue_command(robot_id, STOP, run.id)
        if free:
            store.release_robot(robot_id, run.id)
    db.session.commit()
    log.warning("Run %s: timed out on %s (%s)", run.id, robot_id, cause)
    if free and robot_id:
        dispatch_for_robot(robot_id)
    return 1


def sweep_queue(limit: int = 100) -> int:
    """Offer queued runs to idle robots (covers robots freed on another process, lost wake-ups)."""
    idle = db.session.scalars(
        select(Robot.id)
        .where(Robot.online.is_(True), Robot.state == "enabled", Robot.current_run_id.is_(None))
        .limit(limit)
    ).all()
    if not idle:
        db.session.rollback()
        return 0
    pending = db.session.scalar(
        select(RunInstance.id).where(RunInstance.status == lifecycle.PENDING).limit(1)
    )
    db.session.rollback()
    if pending is None:
        return 0
    return sum(1 for robot_id in idle if dispatch_for_robot(robot_id))


def sweep_mail(older_than: float = 2.0) -> int:
    """Wake this process's connections of robots with undelivered commands (a lost bus
    notification); returns how many robots were named."""
    bus = robots_runtime().bus
    since = utcnow() - timedelta(seconds=older_than)
    robot_ids = db.session.scalars(
        select(RobotCommand.robot_id)
        .where(RobotCommand.delivered_at.is_(None), RobotCommand.created_at < since)
        .distinct()
        .limit(1000)
    ).all()
    db.session.rollback()
    for robot_id in robot_ids:
        bus.deliver_here("mail", robot_id)
    return len(robot_ids)


def sweep_once(*, lost_robots: bool = True) -> dict[str, int]:
    """One full sweep; returns counts per part. ``lost_robots=False`` skips declaring silent robots
    lost (a process that has not yet served one offline period, or an RQ worker: see
    ``node.jobs.sweep_tick``)."""
    return {
        "lost": sweep_lost_robots() if lost_robots else 0,
        "timeouts": sweep_timeouts(),
        "queued": sweep_queue(),
        "mail": sweep_mail(),
    }
