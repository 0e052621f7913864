"""Dispatch: match pending runs with idle, online, eligible robots, and hand out Execute.

A dispatch decision is made in one transaction: claim the robot (conditional UPDATE), move the run
pending → dispatched (conditional UPDATE), write the Execute command to the robot's inbox; the bus is
notified after commit. Any number of processes may dispatch at once: the conditional updates decide.
"""

from __future__ import annotations

import logging
import time
from urllib.parse import quote

from sqlalchemy import or_, select, update

from common.db import db
from common.timeutil import utcnow
from node.context import runtime
from node.hub.bus import notify_after_commit
from node.schedule import lifecycle
from node.schedule.arguments import for_executor
from node.schedule.models import Robot, RobotCommand, RunInstance, Supplier

log = logging.getLogger(__name__)

CANDIDATE_PAGE = 64


# Suppliers change rarely and are read on every dispatch: keep their engines for a few seconds.
ENGINES_CACHE_SECONDS = 5.0
_engines_cache: tuple[float, dict[str, set[str]]] | None = None


def _engines_by_supplier() -> dict[str, set[str]]:
    global _engines_cache
    now = time.monotonic()
    if _engines_cache is None or now - _engines_cache[0] > ENGINES_CACHE_SECONDS:
        rows = db.session.scalars(select(Supplier).where(Supplier.enabled))
        _engines_cache = (now, {s.code: set(s.engines or []) for s in rows})
    return _engines_cache[1]


def forget_suppliers() -> None:
    """Drop the engines cache (a supplier was added or changed in this process)."""
    global _engines_cache
    _engines_cache = None


def enqueue_command(robot_id: str, action: str, run_id: str | None = None, body: dict | None = None) -> None:
    """Put a command in the robot's durable inbox; its connection is woken after commit."""
    db.session.add(RobotCommand(robot_id=robot_id, action=action, run_instance_id=run_id, body=body))
    notify_after_commit(db.session(), runtime().bus, "mail", robot_id)


def _claim(robot_id: str, run: RunInstance, *, commit: bool = True) -> bool:
    """Claim ``robot_id`` for ``run`` and move the run to dispatched (and commit, unless told not to)."""
    now = utcnow()
    claimed = db.session.execute(
        update(Robot)
        .where(
            Robot.id == robot_id,
            Robot.current_run_id.is_(None),
            Robot.online.is_(True),
            Robot.state == "enabled",
        )
        .values(current_run_id=run.id, last_dispatch_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        return False
    try:
        lifecycle.transition(
            run, lifecycle.DISPATCHED, f"dispatched to robot {robot_id}", now=now, robot_id=robot_id
        )
    except lifecycle.TransitionRefused:
        if commit:
            db.session.rollback()
        else:  # keep the caller's transaction: just give the robot back
            db.session.execute(
                update(Robot)
                .where(Robot.id == robot_id, Robot.current_run_id == run.id)
                .values(current_run_id=None)
                .execution_options(synchronize_session=False)
            )
        return False
    enqueue_command(robot_id, "Execute", run.id)
    if commit:
        db.session.commit()
    log.info("Run %s: dispatched to %s (attempt %s)", run.id, robot_id, run.attempt)
    return True


def try_dispatch(run_id: str) -> str | None:
    """Dispatch a pending run to its requested robot or to any idle eligible robot; return the robot id."""
    run = db.session.get(RunInstance, run_id)
    if run is None or run.status != lifecycle.PENDING:
        return None
    robot_id = dispatch_new(run)
    if robot_id is None:
        db.session.rollback()  # end the read transaction; the run stays queued
    else:
        db.session.commit()
    return robot_id


def dispatch_new(run: RunInstance) -> str | None:
    """Claim an idle eligible robot for a pending ``run`` inside the caller's transaction (no commit).

    ``start_run`` uses it so that a run is created and dispatched in a single commit.
    """
    engines = _engines_by_supplier()
    query = select(Robot.id, Robot.supplier_code).where(
        Robot.online.is_(True), Robot.state == "enabled", Robot.current_run_id.is_(None)
    )
    if run.requested_robot_id:
        query = query.where(Robot.id == run.requested_robot_id)
    query = query.order_by(Robot.last_dispatch_at.is_not(None), Robot.last_dispatch_at).limit(CANDIDATE_PAGE)
    for robot_id, supplier in db.session.execute(query).all():
        if run.engine in engines.get(supplier, ()) and _claim(robot_id, run, commit=False):
            return robot_id
    return None


def dispatch_for_robot(robot_id: str) -> str | None:
    """Give an idle robot the oldest pending run it may take; return the run id."""
    robot = db.session.get(Robot, robot_id)
    if robot is None or not robot.online or robot.state != "enabled" or robot.current_run_id:
        return None
    engines = _engines_by_supplier().get(robot.supplier_code, set())
    if not engines:
        return None
    query = (
        select(RunInstance)
        .where(
            RunInstance.status == lifecycle.PENDING,
            RunInstance.engine.in_(engines),
            or_(RunInstance.requested_robot_id.is_(None), RunInstance.requested_robot_id == robot_id),
        )
        .order_by(RunInstance.created_at, RunInstance.id)
        .limit(CANDIDATE_PAGE)
    )
    for run in db.session.scalars(query).all():
        if _claim(robot_id, run):
            return run.id
        robot = db.session.get(Robot, robot_id)
        if robot is None or robot.current_run_id or not robot.online:
            break
    db.session.rollback()
    return None


def file_link(base_url: str, file_id: str, audience: str) -> str:
    """An absolute, signed, expiring GET link to a stored file."""
    token = runtime().links.sign(file_id, audience)
    return f"{base_url.rstrip('/')}/v1/file/{file_id}/content?token={quote(token)}"


def run_token(robot_id: str, run_id: str) -> str:
    """A credential scoped to one run of one robot, for the robot process's file calls (extension).

    It lets a package upload files and fill the user's personal folder for its own run without ever
    seeing the supplier secret; it is valid while the run is active and in its log grace period.
    """
    return runtime().links.sign_value(f"run|{robot_id}|{run_id}")


def build_execute_body(run: RunInstance, base_url: str) -> dict:
    """The Execute body for ``run`` (protocol.md §2 plus extensions), with fresh signed links."""
    from node.share.packages import get_version

    rt = runtime()
    ver = get_version(run.app_version_id)
    audience = f"robot:{run.robot_id}"
    return {
        "runInstanceId": run.id,
        "packageDownloadUri": file_link(base_url, ver.package_file_id, audience),
        "fileUploadUri": f"{base_url.rstrip('/')}/v1/file/file/upload",
        "arguments": for_executor(run.arguments, rt.box),
        "videoRecordRequired": run.video_record_required,
        "videoRecordMode": run.video_record_mode,
        "userId": run.user_id,
        "userName": run.user_name,
        "attempt": run.attempt,
        "checkpointUri": file_link(base_url, run.checkpoint_file_id, audience)
        if run.checkpoint_file_id
        else None,
        "timeoutSeconds": run.timeout_seconds or None,
        "taskId": None,
        "workflowRunId": None,
        "packageSha256": ver.sha256,
        "runToken": run_token(run.robot_id, run.id),
        "packageName": ver.manifest.get("name"),
        "packageVersion": ver.version,
        "entry": ver.entry,
    }
