"""Robot management: the robot list, one robot, approval and disabling."""

from __future__ import annotations

from sqlalchemy import func, select

from common import audit
from common.db import db
from common.envelope import NOT_FOUND, ApiError
from node.robots.bus import notify_after_commit
from node.robots.models import Robot
from node.robots.runtime import robots_runtime
from protocol.codes import BAD_REQUEST


def list_robots(limit: int, offset: int) -> tuple[list[Robot], int]:
    """A page of robots by id, and how many there are."""
    total = db.session.scalar(select(func.count()).select_from(Robot)) or 0
    rows = db.session.scalars(select(Robot).order_by(Robot.id).limit(limit).offset(offset)).all()
    return list(rows), total


def get_robot(robot_id: str) -> Robot:
    """The robot, or ApiError 10404."""
    robot = db.session.get(Robot, robot_id)
    if robot is None:
        raise ApiError(NOT_FOUND, f"robotId: no robot {robot_id!r}", 404)
    return robot


def set_state(robot_id: str, state: str, actor: str) -> Robot:
    """Approve/enable or disable a robot (a disabled robot's connection is closed)."""
    if state not in {"enabled", "disabled"}:
        raise ApiError(BAD_REQUEST, "state: 'enabled' or 'disabled'")
    robot = get_robot(robot_id)
    before = robot.state
    robot.state = state
    if state == "disabled":
        robot.online = False
        notify_after_commit(robots_runtime().bus, "supersede", robot_id, robot.connect_id)
    audit.record("robot.state", target=f"robot:{robot_id}", actor=actor, detail={"from": before, "to": state})
    db.session.commit()
    return robot


def count_robots() -> tuple[int, int]:
    """(robots online, robots in all)."""
    online = db.session.scalar(select(func.count()).select_from(Robot).where(Robot.online.is_(True))) or 0
    return online, db.session.scalar(select(func.count()).select_from(Robot)) or 0


def first_robots(limit: int) -> list[Robot]:
    """The first ``limit`` robots, online ones first (status pages)."""
    return list(db.session.scalars(select(Robot).order_by(Robot.online.desc(), Robot.id).limit(limit)))
