"""Who is calling an executor-facing HTTP path: robotId + robotConnectId, or robotId + a fresh
supplierSecret (for WebSocket executors, which have no robotConnectId, when they upload files).
"""

from __future__ import annotations

from flask import Request, g

from common.db import db
from common.envelope import ApiError
from node.robots.models import Robot
from node.robots.registration import check_robot_id
from node.robots.runtime import robots_runtime
from node.robots.suppliers import verify_supplier_secret
from node.runs.execute import run_of_token
from protocol.codes import DUPLICATE_CONNECTION, NOT_REGISTERED, ROBOT_DISABLED


def robot_from_headers(req: Request, *, allow_supplier_secret: bool = False) -> str:
    """Return the calling robot's id or raise ApiError (401/403 with the protocol's error code)."""
    robot_id = check_robot_id(req.headers.get("robotId"))
    connect_id = req.headers.get("robotConnectId")
    if connect_id:
        current = robots_runtime().presence.connect_id(robot_id)
        if current is None:
            raise ApiError(NOT_REGISTERED, "robotConnectId: robot is not registered", 401)
        if current != connect_id:
            raise ApiError(DUPLICATE_CONNECTION, "robotConnectId: superseded by a newer registration", 401)
        return robot_id
    token = req.headers.get("runToken")
    if allow_supplier_secret and token:
        g.rpa_run_scope = run_of_token(robot_id, token)  # file calls are held to that run
        return robot_id
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
