"""Run instances: start, stop, finish, lose and recover; reading their state, transitions and logs.

The services every center calls to run an application (the scheduling center's plans, the sharing
center's "run it" button, the API)."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from sqlalchemy import Row, func, select

from common import audit
from common.db import db, unit_of_work
from common.envelope import CONFLICT, NOT_FOUND, ApiError
from common.files import get_file
from common.timeutil import utcnow
from node.packages.versions import resolve_version
from node.robots.inbox import enqueue_command
from node.robots.models import Robot, Supplier
from node.robots.suppliers import engines_by_supplier
from node.runs import arguments as args_mod
from node.runs import lifecycle, store
from node.runs.desk import Finish, NewRun, StartedRun
from node.runs.dispatch import try_dispatch
from node.runs.models import RunInstance, RunInstanceLog, RunTransition
from node.runs.runtime import runs_runtime
from node.runtime import runtime
from protocol.actions import STOP
from protocol.codes import BAD_REQUEST, UNKNOWN_RUN

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOptions:
    """How a run is started besides its application and arguments."""

    robot_id: str | None = None
    video_record_required: bool = False
    video_record_mode: int = 0
    timeout_seconds: int = 0
    max_attempts: int = 1


def new_run_id() -> str:
    """A fresh run instance id."""
    return "r_" + secrets.token_hex(12)


def start_run(
    app_id: str,
    version: str | None,
    arguments,
    user_id: str,
    user_name: str,
    options: RunOptions,
) -> StartedRun:
    """Create a run and, when a robot is free, dispatch it in the same commit (else it is queued).

    Checks (reads only) happen here; the write goes through the run-start group commit.
    """
    rt = runtime()
    # Never hold a pooled connection while waiting for the writer (or for a second connection):
    # the session's (from authentication) is released first; the reads use one short transaction.
    db.session.rollback()
    with unit_of_work(db.engine):
        ver = resolve_version(app_id, version)
    if options.robot_id:
        _check_requested_robot(options.robot_id, ver.engine)
        db.session.rollback()
    stored_args = args_mod.normalise(arguments, ver.arguments, rt.box)
    _check_some_supplier_runs(ver.engine)
    row = {
        "id": new_run_id(),
        "app_id": app_id,
        "app_version_id": ver.id,
        "engine": ver.engine,
        "attempt": 1,
        "max_attempts": options.max_attempts,
        "requested_robot_id": options.robot_id,
        "arguments": stored_args,
        "user_id": user_id,
        "user_name": user_name,
        "video_record_required": options.video_record_required,
        "video_record_mode": options.video_record_mode,
        "timeout_seconds": options.timeout_seconds or int(rt.config.default_run_timeout),
        "created_at": utcnow(),
        "cause": f"started by user:{user_name}",
    }
    detail = {"appId": app_id, "version": ver.version, "robotId": options.robot_id}
    run = runs_runtime().desk.start_run(NewRun(row, options.robot_id, f"user:{user_name}", detail))
    log.info("Run %s: created for app %s %s by %s", run.id, app_id, ver.version, user_name)
    if run.robot_id:
        log.info("Run %s: dispatched to %s (attempt 1)", run.id, run.robot_id)
    return run


def _check_some_supplier_runs(engine: str) -> None:
    """A run no robot could ever take is refused now, not left pending for ever."""
    if not any(engine in engines for engines in engines_by_supplier().values()):
        raise ApiError(
            CONFLICT,
            f"appId: no enabled supplier runs engine {engine!r}, so no robot could take this run "
            "(add the engine to a supplier: POST /api/v1/suppliers with engines)",
            409,
        )


def waiting_reason(run: Row) -> str | None:
    """Why a queued run has no robot yet, in words (None for a run that is not pending)."""
    if run.status != lifecycle.PENDING:
        return None
    suppliers = sorted(code for code, engines in engines_by_supplier().items() if run.engine in engines)
    if not suppliers:
        return f"no enabled supplier runs engine {run.engine!r}"
    if run.requested_robot_id:
        robot = store.robot_row(run.requested_robot_id)
        if robot is None:
            return f"robot {run.requested_robot_id} is not registered"
        if robot.state != "enabled":
            return f"robot {run.requested_robot_id} is {robot.state}"
        if not robot.online:
            return f"robot {run.requested_robot_id} is offline"
        if robot.current_run_id:
            return f"robot {run.requested_robot_id} is busy with run {robot.current_run_id}"
        return f"robot {run.requested_robot_id} is free: the next dispatch (within a second) gives it the run"
    online, idle = store.eligible_robot_counts(suppliers)
    if online == 0:
        return f"no robot that runs engine {run.engine!r} is online (suppliers {', '.join(suppliers)})"
    if idle == 0:
        return f"all {online} online robots that run engine {run.engine!r} are busy"
    return f"{idle} robots are free: the next dispatch (within a second) gives one the run"


def _check_requested_robot(robot_id: str, engine: str) -> None:
    robot = db.session.get(Robot, robot_id)
    if robot is None:
        raise ApiError(NOT_FOUND, f"robotId: no robot {robot_id!r}", 404)
    sup = db.session.get(Supplier, robot.supplier_code)
    if sup is None or engine not in (sup.engines or []):
        raise ApiError(BAD_REQUEST, f"robotId: robot {robot.id} does not run engine {engine!r}")
    if robot.state == "disabled":
        raise ApiError(CONFLICT, f"robotId: robot {robot.id} is disabled", 409)


def get_run(run_id: str) -> RunInstance:
    """The run (ORM object), or ApiError 10404."""
    run = db.session.get(RunInstance, run_id)
    if run is None:
        raise ApiError(NOT_FOUND, f"runInstanceId: no run {run_id!r}", 404)
    return run


def read_run(run_id: str) -> Row:
    """A run's row for reading (no ORM object: the API polls this one often)."""
    run = store.run_row(run_id)
    if run is None:
        raise ApiError(NOT_FOUND, f"runInstanceId: no run {run_id!r}", 404)
    return run


def list_runs(status: str | None, limit: int, offset: int) -> tuple[list[RunInstance], int]:
    """A page of runs, newest first (optionally of one status), and how many there are."""
    query = select(RunInstance)
    count = select(func.count()).select_from(RunInstance)
    if status:
        query, count = query.where(RunInstance.status == status), count.where(RunInstance.status == status)
    rows = db.session.scalars(query.order_by(RunInstance.created_at.desc()).limit(limit).offset(offset)).all()
    return list(rows), db.session.scalar(count) or 0


def recent_runs(limit: int) -> list[RunInstance]:
    """The newest runs."""
    return list(db.session.scalars(select(RunInstance).order_by(RunInstance.created_at.desc()).limit(limit)))


def transitions_of(run_id: str) -> list[RunTransition]:
    """Every recorded status change of a run, in order."""
    get_run(run_id)
    return list(
        db.session.scalars(
            select(RunTransition).where(RunTransition.run_instance_id == run_id).order_by(RunTransition.id)
        )
    )


def logs_of(run_id: str, limit: int, offset: int) -> tuple[list[RunInstanceLog], int]:
    """A page of a run's log lines in logAt order, and how many there are."""
    get_run(run_id)
    total = (
        db.session.scalar(
            select(func.count()).select_from(RunInstanceLog).where(RunInstanceLog.run_instance_id == run_id)
        )
        or 0
    )
    rows = db.session.scalars(
        select(RunInstanceLog)
        .where(RunInstanceLog.run_instance_id == run_id)
        .order_by(RunInstanceLog.log_at, RunInstanceLog.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), total


def stop_run(run_id: str, actor: str) -> RunInstance:
    """Stop a run: a queued one is cancelled at once; a dispatched or running one gets Stop."""
    run = get_run(run_id)
    if run.status in lifecycle.FINAL:
        raise ApiError(CONFLICT, f"runInstanceId: run is already {run.status}", 409)
    if run.status == lifecycle.STOPPING:
        return run
    try:
        if run.status == lifecycle.PENDING:
            lifecycle.transition(run, lifecycle.CANCELLED, f"cancelled by {actor} before dispatch")
        else:
            lifecycle.transition(run, lifecycle.STOPPING, f"stop requested by {actor}")
            enqueue_command(run.robot_id, STOP, run.id)
    except lifecycle.TransitionRefused:
        db.session.rollback()
        return stop_run(run_id, actor)
    audit.record("run.stop", target=f"run:{run.id}", actor=actor)
    db.session.commit()
    log.info("Run %s: stop requested by %s", run.id, actor)
    return run


def owned_run(robot_id: str, run_id: str) -> Row:
    """(robot_id, attempt, status, finished_at, user_id) of the run if ``robot_id`` executes or
    executed it, else ApiError 10006."""
    run = store.run_state(run_id) if run_id else None
    if run is None or run.robot_id != robot_id:
        raise ApiError(UNKNOWN_RUN, f"runInstanceId: {run_id!r} is not a run of robot {robot_id}", 400)
    return run


def _owned_for_update(robot_id: str, run_id: str) -> RunInstance:
    run = db.session.get(RunInstance, run_id) if run_id else None
    if run is None or run.robot_id != robot_id:
        raise ApiError(UNKNOWN_RUN, f"runInstanceId: {run_id!r} is not a run of robot {robot_id}", 400)
    return run


def mark_running(robot_id: str, run_id: str, cause: str) -> bool:
    """dispatched → running on the first heartbeat or log naming the run; True if it moved."""
    run = store.run_row(run_id)
    if run is None or run.robot_id != robot_id or run.status != lifecycle.DISPATCHED:
        db.session.rollback()
        return False
    try:
        lifecycle.move(run.id, run.status, run.attempt, lifecycle.RUNNING, cause, started_at=run.started_at)
    except lifecycle.TransitionRefused:
        db.session.rollback()
        return False
    db.session.commit()
    log.info("Run %s: running on %s", run_id, robot_id)
    return True


def finish_run(robot_id: str, run_id: str, status: int, error_code: int | None) -> bool:
    """Apply ReportFinish exactly once; a repeat, or a report after a final state, changes nothing.

    Returns True when this call made the run final. The robot is freed either way and offered
    the next queued run (group commit: many reports share one transaction).
    """
    db.session.rollback()
    moved = runs_runtime().desk.finish(Finish(robot_id, run_id, status, error_code))
    if moved:
        log.info("Run %s: %s (reported by %s)", run_id, lifecycle.FINISH_STATUS[status], robot_id)
    return moved


def interrupt(robot_id: str, cause: str) -> str | None:
    """The robot is lost: its active run becomes interrupted, then is re-queued if failover allows.

    Returns the id of the affected run.
    """
    robot = db.session.get(Robot, robot_id)
    if robot is None or not robot.current_run_id:
        return None
    run = db.session.get(RunInstance, robot.current_run_id)
    store.release_robot(robot_id, robot.current_run_id)
    requeue = False
    if run is not None and run.status in lifecycle.ACTIVE and run.robot_id == robot_id:
        try:
            lifecycle.transition(run, lifecycle.INTERRUPTED, cause)
            if run.attempt < run.max_attempts:
                lifecycle.transition(
                    run,
                    lifecycle.PENDING,
                    f"failover: attempt {run.attempt + 1} re-queued",
                    attempt=run.attempt + 1,
                )
                requeue = True
        except lifecycle.TransitionRefused:
            db.session.rollback()
            return interrupt(robot_id, cause)
        audit.record("run.interrupt", target=f"run:{run.id}", actor="system", detail={"cause": cause})
    db.session.commit()
    if run is not None:
        log.warning(
            "Run %s: interrupted on %s (%s)%s", run.id, robot_id, cause, "; re-queued" if requeue else ""
        )
    if requeue:
        try_dispatch(run.id)
    return run.id if run else None


def set_checkpoint(robot_id: str, run_id: str, file_id: str) -> None:
    """Remember the latest checkpoint file of a run (restored on failover)."""
    run = _owned_for_update(robot_id, run_id)
    run.checkpoint_file_id = file_id
    db.session.commit()


def set_video(robot_id: str, run_id: str, video_id: str) -> None:
    """ReportVideoRecord: only after ReportFinish of that run."""
    run = _owned_for_update(robot_id, run_id)
    if run.status not in lifecycle.FINAL:
        raise ApiError(BAD_REQUEST, "runInstanceId: ReportVideoRecord is accepted only after ReportFinish")
    f = get_file(video_id)
    if f is None:
        raise ApiError(BAD_REQUEST, f"videoId: no uploaded file {video_id!r}")
    run.video_file_id = video_id
    audit.record("run.video", target=f"run:{run_id}", actor=f"robot:{robot_id}", detail={"videoId": video_id})
    db.session.commit()
