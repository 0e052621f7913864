"""Licenses (许可证): loaded by an admin, bound to at most one robot, sent with SendLicense."""

from __future__ import annotations

from sqlalchemy import select

from common import audit
from common.db import connection, db
from common.envelope import CONFLICT, NOT_FOUND, ApiError
from node.robots.inbox import enqueue_command
from node.robots.management import get_robot
from node.robots.models import License
from node.runtime import runtime
from protocol.actions import SEND_LICENSE
from protocol.codes import BAD_REQUEST


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
    """Bind a license to a robot (unbinding its previous one); the robot gets SendLicense."""
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
    enqueue_command(robot.id, SEND_LICENSE)
    audit.record("license.bind", target=f"license:{lic.id}", actor=actor, detail={"robotId": robot_id})
    db.session.commit()
    return lic


def license_content(robot_id: str) -> str | None:
    """The robot's bound license, unsealed (read on the caller's connection: inbox delivery reads
    in its own short transaction and must not take a second one)."""
    sealed = connection().execute(select(License.content_sealed).where(License.robot_id == robot_id)).scalar()
    return runtime().box.open(sealed) if sealed is not None else None


def list_licenses() -> list[License]:
    """Every license (contents stay sealed)."""
    return list(db.session.scalars(select(License).order_by(License.id)))
