"""Runs over the management API: start, read, list, transitions, logs, stop."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Row

from common.api.registry import api_blueprint, api_route
from common.api.schemas import In, ListOut, Page
from common.auth.services import Principal
from common.envelope import envelope
from common.timeutil import iso
from node.runs import services as runs
from node.runs.arguments import for_display
from node.runs.models import RunInstance, RunInstanceLog, RunTransition
from node.runs.services import RunOptions

bp = api_blueprint("runs_api", __name__)


class RunPage(Page):
    status: str | None = Field(default=None, max_length=16)


class ArgumentIn(In):
    name: str = Field(min_length=1, max_length=64)
    type: str | None = Field(default=None, max_length=16)
    value: Any


class RunCreate(In):
    appId: str = Field(min_length=1, max_length=40)
    version: str | None = Field(default=None, max_length=32)
    arguments: list[ArgumentIn] | dict[str, Any] | None = None
    robotId: str | None = Field(default=None, max_length=64)
    videoRecordRequired: bool = False
    videoRecordMode: Literal[0, 1, 2] = 0
    timeoutSeconds: int = Field(default=0, ge=0, le=7 * 86400)
    failover: bool = Field(default=False, description="re-queue on another robot if the executor is lost")
    maxAttempts: int = Field(default=3, ge=1, le=10, description="attempts in all when failover is on")


class RunCreated(BaseModel):
    runInstanceId: str
    status: str


class RunOut(BaseModel):
    runInstanceId: str
    appId: str
    status: str
    robotId: str | None
    attempt: int
    arguments: list[dict]
    createdAt: str | None
    dispatchedAt: str | None
    startedAt: str | None
    finishedAt: str | None
    errorCode: int | None
    cause: str
    videoId: str | None
    checkpointId: str | None
    userName: str
    waitingReason: str | None = Field(default=None, description="why a pending run has no robot yet")


def run_out(r: RunInstance | Row) -> dict:
    """A run as the API shows it (secret arguments masked)."""
    return {
        "runInstanceId": r.id,
        "appId": r.app_id,
        "status": r.status,
        "robotId": r.robot_id,
        "attempt": r.attempt,
        "arguments": for_display(r.arguments or []),
        "createdAt": iso(r.created_at),
        "dispatchedAt": iso(r.dispatched_at),
        "startedAt": iso(r.started_at),
        "finishedAt": iso(r.finished_at),
        "errorCode": r.error_code,
        "cause": r.cause,
        "videoId": r.video_file_id,
        "checkpointId": r.checkpoint_file_id,
        "userName": r.user_name,
    }


def transition_out(t: RunTransition) -> dict:
    """A recorded status change as the API shows it."""
    return {
        "fromStatus": t.from_status,
        "toStatus": t.to_status,
        "attempt": t.attempt,
        "cause": t.cause,
        "at": iso(t.at),
    }


def log_out(line: RunInstanceLog) -> dict:
    """A log line as the API shows it."""
    return {
        "content": line.content,
        "screenshot": line.screenshot,
        "logAt": iso(line.log_at),
        "logLevel": line.log_level,
        "attempt": line.attempt,
        "robotId": line.robot_id,
    }


@api_route(
    bp,
    "/runs",
    "POST",
    summary="Start a run on a chosen robot or on any idle eligible robot",
    permission="run.start",
    body=RunCreate,
    response=RunCreated,
    tag="runs",
    status=201,
)
def start_run(body: RunCreate, user: Principal):
    args = body.arguments
    if isinstance(args, list):
        args = [a.model_dump() for a in args]
    options = RunOptions(
        robot_id=body.robotId,
        video_record_required=body.videoRecordRequired,
        video_record_mode=body.videoRecordMode,
        timeout_seconds=body.timeoutSeconds,
        max_attempts=body.maxAttempts if body.failover else 1,
    )
    run = runs.start_run(body.appId, body.version, args, str(user.id), user.username, options)
    return envelope({"runInstanceId": run.id, "status": run.status}, status=201)


@api_route(
    bp,
    "/runs",
    "GET",
    summary="List runs, newest first",
    permission="run.read",
    query=RunPage,
    response=ListOut,
    tag="runs",
)
def list_runs(query: RunPage, user: Principal):
    rows, total = runs.list_runs(query.status, query.limit, query.offset)
    return envelope({"items": [run_out(r) for r in rows], "total": total})


@api_route(bp, "/runs/<run_id>", "GET", summary="One run", permission="run.read", response=RunOut, tag="runs")
def get_run(run_id: str, user: Principal):
    run = runs.read_run(run_id)
    return envelope({**run_out(run), "waitingReason": runs.waiting_reason(run)})


@api_route(
    bp,
    "/runs/<run_id>/transitions",
    "GET",
    summary="Every status change of a run, with time and cause",
    permission="run.read",
    response=ListOut,
    tag="runs",
)
def run_transitions(run_id: str, user: Principal):
    items = [transition_out(t) for t in runs.transitions_of(run_id)]
    return envelope({"items": items, "total": len(items)})


@api_route(
    bp,
    "/runs/<run_id>/logs",
    "GET",
    summary="A run's logs in logAt order",
    permission="run.read",
    query=Page,
    response=ListOut,
    tag="runs",
)
def run_logs(run_id: str, query: Page, user: Principal):
    rows, total = runs.logs_of(run_id, query.limit, query.offset)
    return envelope({"items": [log_out(x) for x in rows], "total": total})


@api_route(
    bp,
    "/runs/<run_id>/stop",
    "POST",
    summary="Stop a run",
    permission="run.start",
    response=RunOut,
    tag="runs",
)
def stop_run(run_id: str, user: Principal):
    return envelope(run_out(runs.stop_run(run_id, f"user:{user.username}")))
