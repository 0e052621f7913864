"""Dispatch: match pending runs with idle, online, eligible robots, and hand out Execute.

A dispatch decision is made in one transaction: claim the robot (conditional UPDATE), move the run
pending → dispatched (conditional UPDATE), write the Execute command to the robot's inbox; the bus is
notified after commit. Any number of processes may dispatch at once: the conditional updates decide.
"""

from __future__ import annotations

import logging

from common.db import db
from common.timeutil import utcnow
from node.robots.inbox import enqueue_command
from node.robots.suppliers import engines_by_supplier
from node.runs import lifecycle, store
from protocol.actions import EXECUTE

log = logging.getLogger(__name__)


def claim_for(robot_id: str, run_id: str, attempt: int) -> bool:
    """In the caller's transaction: claim the robot for a pending run and move the run to dispatched,
    with its Execute in the robot's inbox. False (and nothing changed) when either moved meanwhile."""
    now = utcnow()
    if not store.claim_robot(robot_id, run_id, now):
        return False
    try:
        lifecycle.move(
            run_id,
            lifecycle.PENDING,
            attempt,
            lifecycle.DISPATCHED,
            f"dispatched to robot {robot_id}",
            now=now,
            robot_id=robot_id,
        )
    except lifecycle.TransitionRefused:
        store.release_robot(robot_id, run_id)  # give the robot back, keep the caller's transaction
        return False
    enqueue_command(robot_id, EXECUTE, run_id)
    log.info("Run %s: dispatched to %s (attempt %s)", run_id, robot_id, attempt)
    return True


def try_dispatch(run_id: str) -> str | None:
    """Dispatch a pending run to its requested robot or to any idle eligible robot; return the robot id."""
    run = store.run_row(run_id)
    if run is None or run.status != lifecycle.PENDING:
        db.session.rollback()
        return None
    engines = engines_by_supplier()
    for robot_id, supplier in store.idle_robots(run.requested_robot_id):
        if run.engine in engines.get(supplier, ()) and claim_for(robot_id, run.id, run.attempt):
            db.session.commit()
            return robot_id
    db.session.rollback()  # end the read transaction; the run stays queued
    return None


def dispatch_for_robot(robot_id: str) -> str | None:
    """Give an idle robot the oldest pending run it may take (and commit); return the run id."""
    run_id = offer_next(robot_id)
    if run_id:
        db.session.commit()
    else:
        db.session.rollback()
    return run_id


def offer_next(robot_id: str) -> str | None:
    """In the caller's transaction: dispatch the oldest pending run the robot may take, if it is
    online, enabled and idle; return the run id."""
    robot = store.robot_row(robot_id)
    if robot is None or not robot.online or robot.state != "enabled" or robot.current_run_id:
        return None
    engines = engines_by_supplier().get(robot.supplier_code, set())
    if not engines:
        return None
    for run_id, attempt in store.pending_for_robot(robot_id, engines):
        if claim_for(robot_id, run_id, attempt):
            return run_id
        again = store.robot_row(robot_id)
        if again is None or again.current_run_id or not again.online:
            break
    return None
