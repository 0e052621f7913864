"""A robot arrives: Register (robots kernel), then the oldest queued run it may take goes out at once."""

from __future__ import annotations

from node.robots.models import Robot
from node.robots.registration import register
from node.runs.dispatch import dispatch_for_robot


def register_and_offer(
    robot_id: str,
    supplier_code: str,
    supplier_secret: str,
    version: str | None,
    transport: str,
    *,
    refuse_live_ws: bool,
) -> tuple[Robot, str, str | None]:
    """``register`` (see there: (robot, robotConnectId, licenseContent), ApiError when refused), then
    dispatch a queued run to the robot if it holds none."""
    robot, connect_id, license_text = register(
        robot_id, supplier_code, supplier_secret, version, transport, refuse_live_ws=refuse_live_ws
    )
    if not robot.current_run_id:
        dispatch_for_robot(robot_id)
    return robot, connect_id, license_text
