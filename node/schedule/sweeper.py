"""The lifecycle sweep, run by every node process: lost robots, dispatch and run timeouts, the queue,
and inbox mail whose notification was lost. Conditional updates make concurrent sweeps harmless.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import gevent
from flask import Flask
from gevent.event import Event
from sqlalchemy import or_, select, update

from common.db import db
from common.timeutil import utcnow
from node.context import runtime
from node.schedule import lifecycle, runs, store
from node.schedule.dispatch import dispatch_for_robot, enqueue_command
from node.schedule.models import Robot, RobotCommand, RunInstance

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
        enqueue_command(robot_id, "Stop", run.id)
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
    """Wake local connections whose robot has undelivered commands (a lost bus notification)."""
    rt = runtime()
    since = utcnow() - timedelta(seconds=older_than)
    robot_ids = db.session.scalars(
        select(RobotCommand.robot_id)
        .where(RobotCommand.delivered_at.is_(None), RobotCommand.created_at < since)
        .distinct()
        .limit(1000)
    ).all()
    db.session.rollback()
    woke = 0
    for robot_id in robot_ids:
        conn = rt.connections.get(robot_id)
        if conn is not None:
            conn.wake()
            woke += 1
    return woke


def sweep_once(*, lost_robots: bool = True) -> dict[str, int]:
    """One full sweep; returns counts per part (used by tests and the loop). ``lost_robots=False``
    skips declaring silent robots lost (see :class:`Sweeper`)."""
    return {
        "lost": sweep_lost_robots() if lost_robots else 0,
        "timeouts": sweep_timeouts(),
        "queued": sweep_queue(),
        "mail": sweep_mail(),
    }


class Sweeper:
    """A greenlet running ``sweep_once`` every ``interval`` seconds inside the app context.

    Robots are declared lost only once this process has served for one offline period: while the
    node was down (a restart, an upgrade), executors could not reach it, and their silence says
    nothing about them. Those that come back within the period keep their runs; the others' runs
    are interrupted then.
    """

    def __init__(self, app: Flask, interval: float) -> None:
        self._app = app
        self._interval = interval
        self._greenlet: gevent.Greenlet | None = None
        self._stopping = Event()
        self._serving_since = 0.0

    def start(self) -> None:
        if self._greenlet is None:
            self._stopping.clear()
            self._serving_since = time.monotonic()
            self._greenlet = gevent.spawn(self._loop)

    def _loop(self) -> None:
        offline_after = self._app.extensions["rpa"].config.offline_after
        while not self._stopping.wait(self._interval):
            with self._app.app_context():
                try:
                    sweep_once(lost_robots=time.monotonic() - self._serving_since >= offline_after)
                except Exception:
                    db.session.rollback()
                    log.exception("Sweep failed; trying again next round")
                finally:
                    db.session.remove()

    def stop(self, timeout: float = 10) -> None:
        """Let the sweep in progress finish (never kill it mid-transaction), then stop."""
        if self._greenlet is not None:
            self._stopping.set()
            self._greenlet.join(timeout)
            self._greenlet.kill(block=False)
            self._greenlet = None
