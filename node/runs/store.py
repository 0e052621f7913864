"""Core-level statements of the dispatch hot path (start → Execute → ReportFinish), built once.

The run core reads and claims robot rows here (the robots kernel's tables, read by the kernel above
it); inbox rows are written by ``node.robots.inbox``.

An ORM statement costs ~300 µs of Python here; the same statement prebuilt in Core with bound
parameters costs ~20 µs (see bench/README.md). They run on the session's connection, so they are
part of the caller's transaction; the caller commits. The ORM identity map does not see these
writes: callers holding an ORM object of the same row refresh it themselves (``lifecycle``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Row, bindparam, func, or_, select, update

from common.db import connection, insert_rows
from node.robots.inbox import COMMAND
from node.robots.models import Robot
from node.runs.models import RunInstance, RunTransition

RUN = RunInstance.__table__
ROBOT = Robot.__table__
TRANSITION = RunTransition.__table__

CANDIDATE_PAGE = 64

_RUN = select(RUN).where(RUN.c.id == bindparam("b_run"))
_RUN_STATE = select(RUN.c.robot_id, RUN.c.attempt, RUN.c.status, RUN.c.finished_at, RUN.c.user_id).where(
    RUN.c.id == bindparam("b_run")
)
_RUNS = select(RUN).where(RUN.c.id.in_(bindparam("b_runs", expanding=True)))
_ANY_PENDING = select(RUN.c.id).where(RUN.c.status == "pending").limit(1)
_ROBOT = select(ROBOT.c.online, ROBOT.c.state, ROBOT.c.current_run_id, ROBOT.c.supplier_code).where(
    ROBOT.c.id == bindparam("b_robot")
)
_IDLE = (
    select(ROBOT.c.id, ROBOT.c.supplier_code)
    .where(ROBOT.c.online.is_(True), ROBOT.c.state == "enabled", ROBOT.c.current_run_id.is_(None))
    .order_by(ROBOT.c.last_dispatch_at.is_not(None), ROBOT.c.last_dispatch_at)
    .limit(bindparam("b_limit"))
)
_IDLE_ONE = _IDLE.where(ROBOT.c.id == bindparam("b_robot"))
_CLAIMABLE = (  # this robot, if it is idle, online and enabled
    ROBOT.c.id == bindparam("b_robot"),
    ROBOT.c.current_run_id.is_(None),
    ROBOT.c.online.is_(True),
    ROBOT.c.state == "enabled",
)
_CLAIM = (
    update(ROBOT)
    .where(*_CLAIMABLE)
    .values(current_run_id=bindparam("b_run"), last_dispatch_at=bindparam("b_now"))
)
# PostgreSQL: a robot row another transaction holds (a claim by another process, a presence flush)
# is skipped, not waited for. Two processes claiming robots of a batch in different orders would
# otherwise wait on each other, and that is a deadlock (1 s, then one batch fails and is replayed).
# The price: a run started in the few milliseconds a presence flush holds its rows may find no
# robot and wait in the queue for the next sweep (1 s). FOR NO KEY UPDATE: foreign-key checks of
# rows that refer to the robot do not conflict with it.
_CLAIM_SKIP_LOCKED = _CLAIM.where(
    ROBOT.c.id.in_(select(ROBOT.c.id).where(*_CLAIMABLE).with_for_update(skip_locked=True, key_share=True))
)
_RELEASE = (
    update(ROBOT)
    .where(ROBOT.c.id == bindparam("b_robot"), ROBOT.c.current_run_id == bindparam("b_run"))
    .values(current_run_id=None)
)
# Expanding IN (...) parameters are re-rendered on every execution: the common one-value case has
# its own statement.
_PENDING_FOR_ROBOT = (
    select(RUN.c.id, RUN.c.attempt)
    .where(
        RUN.c.status == "pending",
        RUN.c.engine.in_(bindparam("b_engines", expanding=True)),
        or_(RUN.c.requested_robot_id.is_(None), RUN.c.requested_robot_id == bindparam("b_robot")),
    )
    .order_by(RUN.c.created_at, RUN.c.id)
    .limit(CANDIDATE_PAGE)
)
_PENDING_FOR_ROBOT_ONE_ENGINE = (
    select(RUN.c.id, RUN.c.attempt)
    .where(
        RUN.c.status == "pending",
        RUN.c.engine == bindparam("b_engine"),
        or_(RUN.c.requested_robot_id.is_(None), RUN.c.requested_robot_id == bindparam("b_robot")),
    )
    .order_by(RUN.c.created_at, RUN.c.id)
    .limit(CANDIDATE_PAGE)
)
# A command with its run's columns (NULL for commands without a run), in one read.
_TAKE_COMMANDS = (
    select(
        COMMAND.c.id.label("command_id"),
        COMMAND.c.action.label("command_action"),
        COMMAND.c.body.label("command_body"),
        RUN,
    )
    .select_from(COMMAND.outerjoin(RUN, RUN.c.id == COMMAND.c.run_instance_id))
    .where(COMMAND.c.robot_id == bindparam("b_robot"), COMMAND.c.delivered_at.is_(None))
    .order_by(COMMAND.c.id)
    .limit(bindparam("b_limit"))
)


def conn() -> Connection:
    """The current transaction's connection: a group-commit writer's, or the session's (its
    transaction begins here if none is open)."""
    return connection()


def run_row(run_id: str) -> Row | None:
    """Every column of a run, or None."""
    return conn().execute(_RUN, {"b_run": run_id}).first()


def run_state(run_id: str) -> Row | None:
    """(robot_id, attempt, status, finished_at, user_id) of a run, or None: what ownership checks
    need, without decoding the rest of the row."""
    return conn().execute(_RUN_STATE, {"b_run": run_id}).first()


def run_rows(run_ids: list[str]) -> dict[str, Row]:
    """Every column of the named runs that exist, by id."""
    if len(run_ids) == 1:
        rows = conn().execute(_RUN, {"b_run": run_ids[0]})
    else:
        rows = conn().execute(_RUNS, {"b_runs": run_ids})
    return {row.id: row for row in rows}


def any_pending() -> bool:
    """Whether any run waits in the queue (one index probe)."""
    return conn().execute(_ANY_PENDING).first() is not None


def insert_runs(rows: list[dict]) -> None:
    """New run rows (all with the same keys)."""
    insert_rows(RUN, rows)


def insert_transitions(rows: list[dict]) -> None:
    """Record status changes (``run_instance_id, attempt, from_status, to_status, cause, at``)."""
    insert_rows(TRANSITION, rows)


def robot_row(robot_id: str) -> Row | None:
    """(online, state, current_run_id, supplier_code) of a robot, or None."""
    return conn().execute(_ROBOT, {"b_robot": robot_id}).first()


def idle_robots(only: str | None = None, limit: int = CANDIDATE_PAGE) -> list[Row]:
    """Online, enabled robots without a run, least recently dispatched first: (id, supplier_code)."""
    if only:
        return list(conn().execute(_IDLE_ONE, {"b_robot": only, "b_limit": 1}))
    return list(conn().execute(_IDLE, {"b_limit": limit}))


def claim_robot(robot_id: str, run_id: str, now: datetime) -> bool:
    """Give ``run_id`` to the robot if it is still idle, online and enabled (compare-and-set); a
    robot whose row another transaction holds counts as taken (PostgreSQL; SQLite has one writer)."""
    c = conn()
    stmt = _CLAIM_SKIP_LOCKED if c.dialect.name == "postgresql" else _CLAIM
    return c.execute(stmt, {"b_robot": robot_id, "b_run": run_id, "b_now": now}).rowcount == 1


def release_robot(robot_id: str, run_id: str) -> bool:
    """Free the robot if it still holds ``run_id``; True if it did."""
    return conn().execute(_RELEASE, {"b_robot": robot_id, "b_run": run_id}).rowcount == 1


def pending_for_robot(robot_id: str, engines: set[str]) -> list[Row]:
    """Oldest pending runs the robot may take: (id, attempt)."""
    if len(engines) == 1:
        params = {"b_robot": robot_id, "b_engine": next(iter(engines))}
        return list(conn().execute(_PENDING_FOR_ROBOT_ONE_ENGINE, params))
    params = {"b_robot": robot_id, "b_engines": sorted(engines)}
    return list(conn().execute(_PENDING_FOR_ROBOT, params))


def undelivered(robot_id: str, limit: int) -> list[Row]:
    """Oldest undelivered commands of a robot: ``command_id, command_action, command_body`` and
    every column of the command's run (None when it names none)."""
    return list(conn().execute(_TAKE_COMMANDS, {"b_robot": robot_id, "b_limit": limit}))


def eligible_robot_counts(suppliers: list[str]) -> tuple[int, int]:
    """(online, online and idle) enabled robots of these suppliers."""
    row = (
        conn()
        .execute(
            select(
                func.count(),
                func.count().filter(ROBOT.c.current_run_id.is_(None)),
            ).where(
                ROBOT.c.supplier_code.in_(suppliers), ROBOT.c.state == "enabled", ROBOT.c.online.is_(True)
            )
        )
        .one()
    )
    return row[0], row[1]
