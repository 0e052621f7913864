"""The run instance life (protocol.md §6): allowed transitions, recorded with time and cause.

pending → dispatched → running → succeeded | failed | cancelled, plus stopping (Stop sent),
interrupted (executor lost) and timed_out. A final state is final; the only way out of
``interrupted`` is failover back to ``pending`` with a new attempt number.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from sqlalchemy import Update, bindparam, update
from sqlalchemy.orm.attributes import set_committed_value

from common.db import db
from common.timeutil import utcnow
from node.runs import store
from node.runs.models import RunInstance
from protocol.actions import STATUS_CANCELLED, STATUS_FAILED, STATUS_SUCCESS

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
FINISH_STATUS = {STATUS_SUCCESS: SUCCEEDED, STATUS_CANCELLED: CANCELLED, STATUS_FAILED: FAILED}


class TransitionRefused(Exception):
    """The run was no longer in a state that allows the change (someone else moved it first)."""


@lru_cache(maxsize=32)
def _compare_and_set(keys: tuple[str, ...]) -> Update:
    """UPDATE run_instance SET <keys> WHERE id, status and attempt are what the caller saw (cached)."""
    run = store.RUN
    return (
        update(run)
        .where(
            run.c.id == bindparam("w_id"),
            run.c.status == bindparam("w_from"),
            run.c.attempt == bindparam("w_attempt"),
        )
        .values({key: bindparam("v_" + key) for key in keys})
    )


def move(
    run_id: str,
    frm: str,
    attempt: int,
    to: str,
    cause: str,
    /,
    *,
    now: datetime | None = None,
    started_at: datetime | None = None,
    record: list[dict] | None = None,
    **values: object,
) -> dict[str, object]:
    """Move a run from ``frm`` to ``to`` if its stored status and attempt are still those (compare-and-
    set), and record the transition with its time and cause. Returns the columns written.

    Two processes racing on one run cannot both win: the loser gets TransitionRefused. The caller
    commits. ``started_at`` is the run's current value (kept on a second move to running). With
    ``record``, the transition row is appended there for the caller to insert with others.
    """
    if to not in ALLOWED.get(frm, frozenset()):
        raise TransitionRefused(f"{frm} → {to} is not allowed")
    now = now or utcnow()
    stamps: dict[str, object] = {"status": to}
    if to == DISPATCHED:
        stamps["dispatched_at"] = now
    elif to == RUNNING and started_at is None:
        stamps["started_at"] = now
    elif to in FINAL:
        stamps["finished_at"] = now
    elif to == PENDING:
        stamps.update(dispatched_at=None, started_at=None, finished_at=None, robot_id=None)
    stamps.update(values)
    stamps["cause"] = cause[:255]
    params = {"w_id": run_id, "w_from": frm, "w_attempt": attempt}
    params.update({"v_" + key: value for key, value in stamps.items()})
    res = store.conn().execute(_compare_and_set(tuple(stamps)), params)
    if res.rowcount != 1:
        raise TransitionRefused(f"run {run_id} is no longer {frm}")
    row = {
        "run_instance_id": run_id,
        "attempt": stamps.get("attempt", attempt),
        "from_status": frm,
        "to_status": to,
        "cause": stamps["cause"],
        "at": now,
    }
    if record is None:
        store.insert_transitions([row])
    else:
        record.append(row)
    return stamps


def transition(
    run: RunInstance, to: str, cause: str, *, now: datetime | None = None, **values: object
) -> None:
    """``move`` for a run loaded through the ORM; the object is refreshed without a second UPDATE."""
    db.session.flush()  # the transition row refers to the run: write pending ORM changes first
    written = move(run.id, run.status, run.attempt, to, cause, now=now, started_at=run.started_at, **values)
    for key, value in written.items():
        set_committed_value(run, key, value)
