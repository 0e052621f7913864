"""Who is calling an executor-facing HTTP path: robotId + robotConnectId, or robotId + a fresh
supplierSecret (for WebSocket executors, which have no robotConnectId, when they upload files).
"""

from __future__ import annotations

from flask import Request

from common.db import db
from common.envelope import DUPLICATE_CONNECTION, NOT_REGISTERED, ROBOT_DISABLED, ApiError
from node.context import runtime
from node.schedule.models import Robot
from node.schedule.robots import check_robot_id
from node.schedule.suppliers import verify_supplier_secret


def robot_from_headers(req: Request, *, allow_supplier_secret: bool = False) -> str:
    """Return the calling robot's id or raise ApiError (401/403 with the protocol's error code)."""
    robot_id = check_robot_id(req.headers.get("robotId"))
    connect_id = req.headers.get("robotConnectId")
    if connect_id:
        current = runtime().presence.connect_id(robot_id)
        if current is None:
            raise ApiError(NOT_REGISTERED, "robotConnectId: robot is not registered", 401)
        if current != connect_id:
            raise ApiError(DUPLICATE_CONNECTION, "robotConnectId: superseded by a newer registration", 401)
        return robot_id
    token = req.headers.get("runToken")
    if allow_supplier_secret and token:
        return _robot_from_run_token(robot_id, token)
    secret = req.headers.get("supplierSecret")
    if allow_supplier_secret and secret:
        robot = db.session.get(Robot, robot_id)
        if robot is None:
            raise ApiError(NOT_REGISTERED, "robotId: robot is not registered", 401)
        verify_supplier_secret(robot_id, robot.supplier_code, secret)
        if robot.state != "enabled":
            raise ApiError(ROBOT_DISABLED, f"robotId: robot {robot_id} is {robot.state}", 403)
        return robot_id
    raise ApiError(NOT_REGISTERED, "robotConnectId: header missing; register first", 401)


def _robot_from_run_token(robot_id: str, token: str) -> str:
    """A run token (Execute extension) authenticates the robot for that run only; ``g.rpa_run_scope``
    records the run so file calls can be held to it."""
    from datetime import timedelta

    from flask import g

    from common.timeutil import utcnow
    from node.schedule import lifecycle
    from node.schedule.models import RunInstance

    value = runtime().links.unsign_value(token)
    kind, _, rest = (value or "").partition("|")
    token_robot, _, run_id = rest.partition("|")
    if kind != "run" or token_robot != robot_id:
        raise ApiError(NOT_REGISTERED, "runToken: invalid for this robot", 401)
    run = db.session.get(RunInstance, run_id)
    grace = timedelta(seconds=runtime().config.log_grace_seconds)
    if (
        run is None
        or run.robot_id != robot_id
        or (run.status in lifecycle.FINAL and run.finished_at and run.finished_at < utcnow() - grace)
    ):
        raise ApiError(NOT_REGISTERED, "runToken: the run is over", 401)
    g.rpa_run_scope = run_id
    return robot_id
