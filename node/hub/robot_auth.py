"""Who is calling an executor-facing HTTP path: robotId + robotConnectId, or robotId + a fresh
supplierSecret (for WebSocket executors, which have no robotConnectId, when they upload files).
"""

from __future__ import annotations

from flask import Request, g

from common.envelope import ApiError
from node.robots.registration import check_connection, check_robot_id, check_supplier_secret
from node.runs.execute import run_of_token
from protocol.codes import NOT_REGISTERED


def robot_from_headers(req: Request, *, allow_supplier_secret: bool = False) -> str:
    """Return the calling robot's id or raise ApiError (401/403 with the protocol's error code)."""
    robot_id = check_robot_id(req.headers.get("robotId"))
    connect_id = req.headers.get("robotConnectId")
    if connect_id:
        check_connection(robot_id, connect_id)
        return robot_id
    token = req.headers.get("runToken")
    if allow_supplier_secret and token:
        g.rpa_run_scope = run_of_token(robot_id, token)  # file calls are held to that run
        return robot_id
    secret = req.headers.get("supplierSecret")
    if allow_supplier_secret and secret:
        check_supplier_secret(robot_id, secret)
        return robot_id
    raise ApiError(NOT_REGISTERED, "robotConnectId: header missing; register first", 401)
