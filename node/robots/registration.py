"""Robot registration (Register, protocol.md §1-§3): the executor proves its supplier, gets a
connection id, and supersedes its previous connection; and the disconnect of a WebSocket."""

from __future__ import annotations

import logging
import re
import secrets
from datetime import timedelta

from sqlalchemy import select, update

from common import audit
from common.db import db
from common.envelope import ApiError
from common.timeutil import utcnow
from node.robots.bus import notify_after_commit
from node.robots.models import License, Robot
from node.robots.runtime import robots_runtime
from node.robots.suppliers import verify_supplier_secret
from node.runtime import runtime
from protocol.codes import BAD_REQUEST, DUPLICATE_CONNECTION, NOT_REGISTERED, ROBOT_DISABLED

log = logging.getLogger(__name__)

ROBOT_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def check_robot_id(robot_id: str | None) -> str:
    """``robot_id`` if it is a well-formed robotId, else ApiError 10001."""
    if not robot_id or not ROBOT_ID_RE.match(robot_id):
        raise ApiError(BAD_REQUEST, "robotId: 1-64 characters of letters, digits, . _ : -")
    return robot_id


def is_live(robot: Robot, factor: float = 1.5) -> bool:
    """Whether the robot was heard from within ``factor`` heartbeat intervals."""
    interval = runtime().config.heartbeat_interval
    return bool(
        robot.online
        and robot.last_seen_at
        and robot.last_seen_at > utcnow() - timedelta(seconds=factor * interval)
    )


def register(
    robot_id: str,
    supplier_code: str,
    supplier_secret: str,
    version: str | None,
    transport: str,
    *,
    refuse_live_ws: bool,
) -> tuple[Robot, str, str | None]:
    """Authenticate and register an executor; returns (robot, robotConnectId, licenseContent),
    committed. (Offering it a queued run is the runs kernel's part: ``node.runs.arrivals``.)

    A new robot id is created ``enabled`` (or ``pending`` when the node approves robots by hand).
    With ``refuse_live_ws`` (WebSocket), a robot whose WebSocket connection is still live is refused
    with 10000; otherwise the previous connection is superseded.
    """
    rt = runtime()
    parts = robots_runtime()
    check_robot_id(robot_id)
    sup = verify_supplier_secret(robot_id, supplier_code, supplier_secret)
    robot = db.session.get(Robot, robot_id)
    now = utcnow()
    if robot is None:
        state = "pending" if rt.config.approve_new_robots else "enabled"
        robot = Robot(id=robot_id, supplier_code=sup.code, state=state, registered_at=now)
        db.session.add(robot)
        audit.record(
            "robot.create",
            target=f"robot:{robot_id}",
            actor=f"robot:{robot_id}",
            detail={"supplier": sup.code, "state": state},
        )
        db.session.flush()
    elif robot.supplier_code != sup.code:
        raise ApiError(BAD_REQUEST, f"supplierCode: robot {robot_id} belongs to another supplier", 401)
    if robot.state != "enabled":
        db.session.commit()  # keep the pending record so an admin can approve it
        raise ApiError(ROBOT_DISABLED, f"robotId: robot {robot_id} is {robot.state}", 403)
    if refuse_live_ws and robot.transport == "ws" and robot.connect_id and is_live(robot):
        db.session.rollback()
        raise ApiError(
            DUPLICATE_CONNECTION, f"robotId: robot {robot_id} already holds a live connection", 401
        )
    old = robot.connect_id
    connect_id = "c_" + secrets.token_hex(12)
    robot.connect_id, robot.transport, robot.online = connect_id, transport, True
    robot.version = (version or "")[:64]
    robot.registered_at = robot.last_seen_at = now
    if old:
        notify_after_commit(parts.bus, "supersede", robot_id, old)
    audit.record(
        "robot.register",
        target=f"robot:{robot_id}",
        actor=f"robot:{robot_id}",
        detail={"transport": transport, "version": robot.version},
    )
    lic = db.session.scalar(select(License).where(License.robot_id == robot_id))
    db.session.commit()
    parts.presence.set_connect_id(robot_id, connect_id)
    log.info(
        "Robot %s: registered over %s (supplier %s, version %s)", robot_id, transport, sup.code, robot.version
    )
    license_text = rt.box.open(lic.content_sealed) if lic else None
    return robot, connect_id, license_text


def disconnect(robot_id: str, connect_id: str) -> None:
    """A WebSocket closed: the robot is offline unless a newer connection already replaced it.

    Its run is not touched here: the heartbeat rule (3 missed intervals) decides about interruption,
    so an executor that reconnects at once keeps its run.
    """
    db.session.execute(
        update(Robot)
        .where(Robot.id == robot_id, Robot.connect_id == connect_id)
        .values(online=False)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def check_connection(robot_id: str, connect_id: str) -> None:
    """The robotConnectId is the robot's current one; else ApiError 10003 (never registered) or
    10000 (superseded by a newer registration)."""
    current = robots_runtime().presence.connect_id(robot_id)
    if current is None:
        raise ApiError(NOT_REGISTERED, "robotConnectId: robot is not registered", 401)
    if current != connect_id:
        raise ApiError(DUPLICATE_CONNECTION, "robotConnectId: superseded by a newer registration", 401)


def check_supplier_secret(robot_id: str, supplier_secret: str) -> None:
    """A registered, enabled robot proves itself with a fresh supplierSecret (WebSocket executors,
    which have no robotConnectId, when they upload files); else ApiError 10003, 10002 or 10004."""
    robot = db.session.get(Robot, robot_id)
    if robot is None:
        raise ApiError(NOT_REGISTERED, "robotId: robot is not registered", 401)
    verify_supplier_secret(robot_id, robot.supplier_code, supplier_secret)
    if robot.state != "enabled":
        raise ApiError(ROBOT_DISABLED, f"robotId: robot {robot_id} is {robot.state}", 403)
