"""The run instance life (protocol.md §6): allowed transitions, recorded with time and cause.

pending → dispatched → running → succeeded | failed | cancelled, plus stopping (Stop sent),
interrupted (executor lost) and timed_out. A final state is final; the only way out of
``interrupted`` is failover back to ``pending`` with a new attempt number.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm.attributes import set_committed_value

from common.db import db
from common.timeutil import utcnow
from node.schedule.models import RunInstance, RunTransition

PENDING, DISPATCHED, RUNNING, STOPPING = "pending", "dispatched", "running", "stopping"
SUCCEEDED, FAILED, CANCELLED, INTERRUPTED, TIMED_OUT = (
    "succeeded",
    "failed",
    "cancelled",
    "interrupted",
    "timed_out",
)

FINAL = frozenset({SUCCEEDED, FAILED, CANCELLED, INTERRUPTED, TIMED_OUT})
ACTIVE = frozenset({DISPATCHED, RUNNING, STOPPING})  # a robot holds the run

ALLOWED: dict[str, frozenset[str]] = {
    PENDING: frozenset({DISPATCHED, CANCELLED, TIMED_OUT}),
    DISPATCHED: frozenset({RUNNING, STOPPING, SUCCEEDED, FAILED, CANCELLED, INTERRUPTED, TIMED_OUT}),
    RUNNING: frozenset({STOPPING, SUCCEEDED, FAILED, CANCELLED, INTERRUPTED, TIMED_OUT}),
    STOPPING: frozenset({SUCCEEDED, FAILED, CANCELLED, INTERRUPTED, TIMED_OUT}),
    INTERRUPTED: frozenset({PENDING}),  # failover only
}

# ReportFinish status (appendix A.3.3) → final run status.
FINISH_STATUS = {0: SUCCEEDED, 1: CANCELLED, 2: FAILED}


class TransitionRefused(Exception):
    """The run was no longer in a state that allows the change (someone else moved it first)."""


def transition(
    run: RunInstance, to: str, cause: str, *, now: datetime | None = None, **values: object
) -> None:
    """Move ``run`` to ``to`` if its stored status still allows it (compare-and-set), and record why.

    The UPDATE is conditional on the status the caller saw, so two processes racing on one run
    cannot both win. Raises TransitionRefused when the run moved meanwhile. The caller commits.
    """
    frm = run.status
    if to not in ALLOWED.get(frm, frozenset()):
        raise TransitionRefused(f"{frm} → {to} is not allowed")
    now = now or utcnow()
    stamps: dict[str, object] = {}
    if to == DISPATCHED:
        stamps["dispatched_at"] = now
    elif to == RUNNING and run.started_at is None:
        stamps["started_at"] = now
    elif to in FINAL:
        stamps["finished_at"] = now
    elif to == PENDING:
        stamps.update(dispatched_at=None, started_at=None, finished_at=None, robot_id=None)
    stamps.update(values)
    stamps["cause"] = cause[:255]
    res = db.session.execute(
        update(RunInstance)
        .where(RunInstance.id == run.id, RunInstance.status == frm, RunInstance.attempt == run.attempt)
        .values(status=to, **stamps)
        .execution_options(synchronize_session=False)
    )
    if res.rowcount != 1:
        raise TransitionRefused(f"run {run.id} is no longer {frm}")
    db.session.add(
        RunTransition(
            run_instance_id=run.id,
            attempt=stamps.get("attempt", run.attempt),
            from_status=frm,
            to_status=to,
            cause=cause[:255],
            at=now,
        )
    )
    # The row is already written: refresh the object without marking it dirty (no second UPDATE).
    for key, value in {**stamps, "status": to}.items():
        set_committed_value(run, key, value)
