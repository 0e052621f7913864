"""Dispatch: match pending runs with idle, online, eligible robots, and hand out Execute.

A dispatch decision is made in one transaction: claim the robot (conditional UPDATE), move the run
pending → dispatched (conditional UPDATE), write the Execute command to the robot's inbox; the bus is
notified after commit. Any number of processes may dispatch at once: the conditional updates decide.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from urllib.parse import quote

from gevent.event import AsyncResult
from sqlalchemy import Row, select

from common.db import connection, db
from common.timeutil import utcnow
from node.context import runtime
from node.hub.bus import notify_after_commit
from node.schedule import lifecycle, store
from node.schedule.arguments import for_executor
from node.schedule.models import Supplier

log = logging.getLogger(__name__)

# Suppliers change rarely and are read on every dispatch: keep their engines for a few seconds.
ENGINES_CACHE_SECONDS = 5.0
_engines_cache: tuple[float, dict[str, set[str]]] | None = None


def engines_by_supplier() -> dict[str, set[str]]:
    """Engines each enabled supplier's robots run (cached ENGINES_CACHE_SECONDS)."""
    global _engines_cache
    now = time.monotonic()
    if _engines_cache is None or now - _engines_cache[0] > ENGINES_CACHE_SECONDS:
        # the caller's connection: a writer inside its unit of work must not take a second one
        rows = connection().execute(select(Supplier.code, Supplier.engines).where(Supplier.enabled))
        _engines_cache = (now, {code: set(engines or []) for code, engines in rows})
    return _engines_cache[1]


def forget_suppliers() -> None:
    """Drop the engines cache (a supplier was added or changed in this process)."""
    global _engines_cache
    _engines_cache = None


def enqueue_command(robot_id: str, action: str, run_id: str | None = None, body: dict | None = None) -> None:
    """Put a command in the robot's durable inbox; its connection is woken after commit."""
    store.put_commands([store.command(robot_id, action, run_id, body, utcnow())])
    notify_after_commit(runtime().bus, "mail", robot_id)


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
    enqueue_command(robot_id, "Execute", run_id)
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


def build_execute_body(run: Row, base_url: str) -> dict:
    """The Execute body for ``run`` (a run_instance row; protocol.md §2 plus extensions), with fresh
    signed links."""
    from node.share.packages import version_ref

    rt = runtime()
    ver = version_ref(run.app_version_id)
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
        "packageName": ver.name,
        "packageVersion": ver.version,
        "entry": ver.entry,
    }


def _command_body(cmd: Row, robot_id: str, base_url: str) -> tuple[bool, dict | None]:
    """(send?, body) for an inbox command (with its run's columns); an Execute whose run moved on
    is dropped, not sent."""
    if cmd.command_action == "Execute":
        if cmd.id is None or cmd.robot_id != robot_id or cmd.status not in lifecycle.ACTIVE:
            return False, None
        return True, build_execute_body(cmd, base_url)
    if cmd.command_action == "SendLicense":
        from node.schedule.robots import license_content  # robots → suppliers → dispatch at import

        content = license_content(robot_id)
        return (content is not None), {"licenseContent": content}
    return True, cmd.command_body


def take_commands(
    robot_id: str, base_url: str, limit: int, skip: Collection[int] = ()
) -> list[tuple[int, str, dict | None]]:
    """Oldest undelivered commands of a robot as (id, action, body), leaving out the ids in ``skip``
    (sent, their delivery not yet recorded); the caller marks them delivered.

    An action of "" means "drop it" (marked delivered, never sent)."""
    out = []
    for cmd in store.undelivered(robot_id, limit + len(skip)):
        if cmd.command_id in skip:
            continue
        send, body = _command_body(cmd, robot_id, base_url)
        out.append((cmd.command_id, cmd.command_action if send else "", body))
        if len(out) == limit:
            break
    return out


def mark_delivered(ids: list[int]) -> None:
    """Record that commands were sent (group commit; returns once durable)."""
    db.session.rollback()  # end the read transaction of take_commands
    if ids:
        runtime().desk.mark_delivered(ids)


def mark_delivered_later(ids: list[int]) -> AsyncResult:
    """Record that commands were sent, with the run desk's next batch, without waiting.

    Until it is written, a node that dies sends them again after restart: Execute is delivered at
    least once and carries its runInstanceId (protocol.md), so executors recognise a repeat.
    """
    return runtime().desk.mark_delivered_later(ids)
