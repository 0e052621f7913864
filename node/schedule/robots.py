"""Robots (executors): registration, connection identity, approval, and licenses bound to them."""

from __future__ import annotations

import logging
import re
import secrets
from datetime import timedelta

from sqlalchemy import func, select, update

from common import audit
from common.db import connection, db
from common.envelope import BAD_REQUEST, CONFLICT, DUPLICATE_CONNECTION, NOT_FOUND, ROBOT_DISABLED, ApiError
from common.timeutil import utcnow
from node.context import runtime
from node.hub.bus import notify_after_commit
from node.schedule.models import License, Robot
from node.schedule.suppliers import verify_supplier_secret

log = logging.getLogger(__name__)

ROBOT_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def check_robot_id(robot_id: str | None) -> str:
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
    """Authenticate and register an executor; returns (robot, robotConnectId, licenseContent).

    A new robot id is created ``enabled`` (or ``pending`` when the node approves robots by hand).
    With ``refuse_live_ws`` (WebSocket), a robot whose WebSocket connection is still live is refused
    with 10000; otherwise the previous connection is superseded.
    """
    rt = runtime()
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
        notify_after_commit(rt.bus, "supersede", robot_id, old)
    audit.record(
        "robot.register",
        target=f"robot:{robot_id}",
        actor=f"robot:{robot_id}",
        detail={"transport": transport, "version": robot.version},
    )
    lic = db.session.scalar(select(License).where(License.robot_id == robot_id))
    db.session.commit()
    rt.presence.set_connect_id(robot_id, connect_id)
    log.info(
        "Robot %s: registered over %s (supplier %s, version %s)", robot_id, transport, sup.code, robot.version
    )
    license_text = rt.box.open(lic.content_sealed) if lic else None
    if not robot.current_run_id:
        from node.schedule.dispatch import dispatch_for_robot

        dispatch_for_robot(robot_id)  # a queued run goes out the moment a robot is there
    return db.session.get(Robot, robot_id), connect_id, license_text


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


def list_robots(limit: int, offset: int) -> tuple[list[Robot], int]:
    total = db.session.scalar(select(func.count()).select_from(Robot)) or 0
    rows = db.session.scalars(select(Robot).order_by(Robot.id).limit(limit).offset(offset)).all()
    return list(rows), total


def get_robot(robot_id: str) -> Robot:
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
        notify_after_commit(runtime().bus, "supersede", robot_id, robot.connect_id)
    audit.record("robot.state", target=f"robot:{robot_id}", actor=actor, detail={"from": before, "to": state})
    db.session.commit()
    return robot


def add_license(name: str, content: str, robot_id: str | None, actor: str) -> License:
    """Load a license; bind it to a robot now or later. A bound robot that is online gets SendLicense."""
    if not content or len(content) > 64 * 1024:
        raise ApiError(BAD_REQUEST, "content: 1 byte to 64 KiB")
    lic = License(name=(name or "license")[:128], content_sealed=runtime().box.seal(content))
    db.session.add(lic)
    db.session.flush()
    audit.record("license.add", target=f"license:{lic.id}", actor=actor, detail={"name": lic.name})
    if robot_id:
        return bind_license(lic.id, robot_id, actor)
    db.session.commit()
    return lic


def bind_license(license_id: int, robot_id: str, actor: str) -> License:
    from node.schedule.dispatch import enqueue_command

    lic = db.session.get(License, license_id)
    if lic is None:
        raise ApiError(NOT_FOUND, f"licenseId: no license {license_id}", 404)
    robot = get_robot(robot_id)
    if lic.robot_id and lic.robot_id != robot_id:
        raise ApiError(CONFLICT, f"licenseId: already bound to robot {lic.robot_id}", 409)
    previous = db.session.scalar(
        select(License).where(License.robot_id == robot_id, License.id != license_id)
    )
    if previous is not None:
        previous.robot_id = None
        db.session.flush()
    lic.robot_id = robot.id
    enqueue_command(robot.id, "SendLicense", None, None)
    audit.record("license.bind", target=f"license:{lic.id}", actor=actor, detail={"robotId": robot_id})
    db.session.commit()
    return lic


def license_content(robot_id: str) -> str | None:
    """The robot's bound license, unsealed (read on the caller's connection: inbox delivery reads
    in its own short transaction and must not take a second one)."""
    sealed = connection().execute(select(License.content_sealed).where(License.robot_id == robot_id)).scalar()
    return runtime().box.open(sealed) if sealed is not None else None


def list_licenses() -> list[License]:
    return list(db.session.scalars(select(License).order_by(License.id)))


def overview(robots_limit: int = 50, runs_limit: int = 20) -> tuple[int, int, list[Robot], list]:
    """(robots online, robots in all, first robots online first, newest runs) for status pages."""
    from node.schedule.models import RunInstance

    online = db.session.scalar(select(func.count()).select_from(Robot).where(Robot.online.is_(True))) or 0
    total = db.session.scalar(select(func.count()).select_from(Robot)) or 0
    first = db.session.scalars(
        select(Robot).order_by(Robot.online.desc(), Robot.id).limit(robots_limit)
    ).all()
    recent = db.session.scalars(
        select(RunInstance).order_by(RunInstance.created_at.desc()).limit(runs_limit)
    ).all()
    return online, total, list(first), list(recent)
