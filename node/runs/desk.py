"""Group commit of the run hot path: run starts, ReportFinish and delivery marks.

A request checks what it can alone (reads only), hands its write to one of these writers and
waits for the commit, so an answer still means "durable". Under load, one transaction carries
many runs: the robot claims stay one compare-and-set each, but the run rows, transitions, inbox
commands and audit events go in as one statement per table, and there is one commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from gevent.event import AsyncResult

from common import audit
from common.envelope import ApiError
from common.groupcommit import GroupCommit
from common.timeutil import utcnow
from node.robots import inbox
from node.robots.suppliers import engines_by_supplier
from node.runs import dispatch, lifecycle, store
from protocol.actions import EXECUTE, STATUS_CANCELLED, STATUS_SUCCESS
from protocol.codes import UNKNOWN_RUN


@dataclass(frozen=True)
class StartedRun:
    """What the caller of a run start learns: the id, and whether a robot took it at once."""

    id: str
    status: str
    robot_id: str | None


@dataclass(frozen=True)
class NewRun:
    """A validated run to create: its row (status and robot still open) and what to audit."""

    row: dict
    requested_robot_id: str | None
    actor: str
    audit_detail: dict


@dataclass(frozen=True)
class Finish:
    robot_id: str
    run_id: str
    status: int
    error_code: int | None


FINISH_CAUSE = {STATUS_SUCCESS: "executor reported success", STATUS_CANCELLED: "executor reported cancelled"}


class RunDesk(GroupCommit[tuple[str, object], object]):
    """The one writer of the run hot path in a process: starts, finishes and delivery marks that
    are ready together share one transaction (and one SQLite page cache, kept warm)."""

    name = "Run desk"

    def start_run(self, new: NewRun) -> StartedRun:
        """Create a run and dispatch it when a robot is free; returns once committed."""
        return self.submit(("start", new))

    def finish(self, report: Finish) -> bool:
        """Apply a ReportFinish; True if it made the run final; ApiError 10006 if not the robot's run."""
        return self.submit(("finish", report))

    def mark_delivered(self, ids: list[int]) -> None:
        """Record that inbox commands were sent; returns once committed."""
        self.submit(("mark", ids))

    def mark_delivered_later(self, ids: list[int]) -> AsyncResult:
        """Record that inbox commands were sent, with the next batch (see ``GroupCommit.ride``)."""
        return self.ride(("mark", ids))

    def apply(self, items: Sequence[tuple[str, object]]) -> list[object]:
        """Starts, then finishes, then marks; the batch's audit events are written last, so the
        audit head (a lock on PostgreSQL) is always taken after run and robot rows, as in every
        other transaction of the node: no lock-order inversion, no deadlock."""
        by_kind: dict[str, list[int]] = {"start": [], "finish": [], "mark": []}
        for index, (kind, _payload) in enumerate(items):
            by_kind[kind].append(index)
        out: list[object] = [None] * len(items)
        events: list[audit.Event] = []
        appliers = {
            "start": lambda batch: apply_starts(batch, events),
            "finish": lambda batch: apply_finishes(batch, events),
            "mark": apply_marks,
        }
        for kind, apply in appliers.items():
            indexes = by_kind[kind]
            if indexes:
                for index, value in zip(indexes, apply([items[i][1] for i in indexes]), strict=True):
                    out[index] = value
        audit.record_many(events)
        return out


def apply_starts(items: Sequence[NewRun], events: list[audit.Event]) -> list[StartedRun]:
    """Create runs and dispatch each to an idle eligible robot in the same transaction (else: queued).

    Audit events are appended to ``events`` for the caller to write last (see ``RunDesk.apply``).
    """
    now = utcnow()
    engines = engines_by_supplier()
    idle: list | None = None
    page = len(items) + 4  # usually enough; a full page that fits no run is widened once
    taken: set[str] = set()
    rows, transitions, commands, out = [], [], [], []
    for item in items:
        row = dict(item.row)
        if item.requested_robot_id:
            robot_id = _claim_first(store.idle_robots(item.requested_robot_id), row, engines, taken, now)
        else:
            if idle is None:
                idle = store.idle_robots(limit=page)
            robot_id = _claim_first(idle, row, engines, taken, now)
            if robot_id is None and len(idle) == page and page < store.CANDIDATE_PAGE + len(items):
                page = store.CANDIDATE_PAGE + len(items)
                idle = store.idle_robots(limit=page)
                robot_id = _claim_first(idle, row, engines, taken, now)
        steps = [("", lifecycle.PENDING, row["cause"], row["created_at"])]
        if robot_id:
            cause = f"dispatched to robot {robot_id}"
            row.update(status=lifecycle.DISPATCHED, robot_id=robot_id, dispatched_at=now, cause=cause)
            steps.append((lifecycle.PENDING, lifecycle.DISPATCHED, cause, now))
            commands.append(inbox.command(robot_id, EXECUTE, row["id"], None, now))
            inbox.notify_mail(robot_id)
        else:
            row.update(status=lifecycle.PENDING, robot_id=None, dispatched_at=None)
        rows.append(row)
        transitions.extend(
            {
                "run_instance_id": row["id"],
                "attempt": row["attempt"],
                "from_status": frm,
                "to_status": to,
                "cause": why,
                "at": at,
            }
            for frm, to, why, at in steps
        )
        events.append(audit.Event("run.start", f"run:{row['id']}", item.audit_detail, item.actor))
        out.append(StartedRun(row["id"], row["status"], robot_id))
    store.insert_runs(rows)
    store.insert_transitions(transitions)
    if commands:
        inbox.put_commands(commands)
    return out


def _claim_first(
    candidates: list, row: dict, engines: dict[str, set[str]], taken: set[str], now: datetime
) -> str | None:
    """Claim the first candidate robot not yet taken in this batch that runs the run's engine."""
    for robot_id, supplier in candidates:
        if robot_id in taken or row["engine"] not in engines.get(supplier, ()):
            continue
        taken.add(robot_id)  # claimed now, or lost to another process: either way not idle
        if store.claim_robot(robot_id, row["id"], now):
            return robot_id
    return None


def apply_finishes(items: Sequence[Finish], events: list[audit.Event]) -> list[bool | Exception]:
    """Apply ReportFinish: final state once, robot freed either way and offered the next queued run.

    A result is True when that report made the run final; a report for a run the robot does not
    hold gets ApiError 10006 (the others in its batch are not affected). Audit events are appended
    to ``events``.
    """
    now = utcnow()
    rows = store.run_rows(sorted({item.run_id for item in items}))
    transitions: list[dict] = []
    freed, out = [], []
    for item in items:
        run = rows.get(item.run_id)
        if run is None or run.robot_id != item.robot_id:
            out.append(_not_its_run(item))
            continue
        to = lifecycle.FINISH_STATUS[item.status]
        cause = FINISH_CAUSE.get(item.status) or f"executor reported failure (errorCode {item.error_code})"
        moved = False
        for _ in range(5):  # moved meanwhile (a repeat in this batch, another process): look again
            if run is None or run.status in lifecycle.FINAL:
                break
            try:
                lifecycle.move(
                    run.id,
                    run.status,
                    run.attempt,
                    to,
                    cause,
                    now=now,
                    record=transitions,
                    error_code=item.error_code,
                )
                moved = True
                break
            except lifecycle.TransitionRefused:
                run = store.run_row(item.run_id)
                if run is None or run.robot_id != item.robot_id:
                    break  # failed over to another robot meanwhile: no longer this robot's run
        if run is None or run.robot_id != item.robot_id:
            out.append(_not_its_run(item))
            continue
        if moved:
            events.append(
                audit.Event(
                    "run.finish",
                    f"run:{item.run_id}",
                    {"status": to, "errorCode": item.error_code},
                    f"robot:{item.robot_id}",
                )
            )
        if store.release_robot(item.robot_id, item.run_id):
            freed.append(item.robot_id)
        out.append(moved)
    if transitions:
        store.insert_transitions(transitions)
    if freed and store.any_pending():
        for robot_id in freed:
            dispatch.offer_next(robot_id)
    return out


def _not_its_run(item: Finish) -> ApiError:
    hint = f"runInstanceId: {item.run_id!r} is not a run of robot {item.robot_id}"
    return ApiError(UNKNOWN_RUN, hint, 400)


def apply_marks(items: Sequence[list[int]]) -> list[None]:
    """Mark inbox commands delivered (after they were sent): one UPDATE for many connections."""
    ids = [cmd_id for batch in items for cmd_id in batch]
    if ids:
        inbox.mark_delivered(ids, utcnow())
    return [None] * len(items)
