"""The Execute a robot receives: its body (protocol.md §2 plus extensions), rendered at delivery
with fresh signed links, and the run token that lets the robot's process touch its own run's files."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Row

from common.envelope import ApiError
from common.timeutil import utcnow
from node.packages.versions import version_ref
from node.runs import lifecycle, store
from node.runs.arguments import for_executor
from node.runtime import runtime
from protocol.codes import NOT_REGISTERED


def run_token(robot_id: str, run_id: str) -> str:
    """A credential scoped to one run of one robot, for the robot process's file calls (extension).

    It lets a package upload files and fill the user's personal folder for its own run without ever
    seeing the supplier secret; it is valid while the run is active and in its log grace period.
    """
    return runtime().links.sign_value(f"run|{robot_id}|{run_id}")


def build_execute_body(run: Row, base_url: str) -> dict:
    """The Execute body for ``run`` (a run_instance row; protocol.md §2 plus extensions), with fresh
    signed links."""
    rt = runtime()
    ver = version_ref(run.app_version_id)
    audience = f"robot:{run.robot_id}"
    return {
        "runInstanceId": run.id,
        "packageDownloadUri": rt.links.url(base_url, ver.package_file_id, audience),
        "fileUploadUri": f"{base_url.rstrip('/')}/v1/file/file/upload",
        "arguments": for_executor(run.arguments, rt.box),
        "videoRecordRequired": run.video_record_required,
        "videoRecordMode": run.video_record_mode,
        "userId": run.user_id,
        "userName": run.user_name,
        "attempt": run.attempt,
        "checkpointUri": rt.links.url(base_url, run.checkpoint_file_id, audience)
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


def run_of_token(robot_id: str, token: str) -> str:
    """The run a run token (Execute extension) was issued for, if it is this robot's and the run is
    active or within its log grace period; else ApiError 10003."""
    value = runtime().links.unsign_value(token)
    kind, _, rest = (value or "").partition("|")
    token_robot, _, run_id = rest.partition("|")
    if kind != "run" or token_robot != robot_id:
        raise ApiError(NOT_REGISTERED, "runToken: invalid for this robot", 401)
    run = store.run_state(run_id)
    grace = timedelta(seconds=runtime().config.log_grace_seconds)
    if (
        run is None
        or run.robot_id != robot_id
        or (run.status in lifecycle.FINAL and run.finished_at and run.finished_at < utcnow() - grace)
    ):
        raise ApiError(NOT_REGISTERED, "runToken: the run is over", 401)
    return run_id
