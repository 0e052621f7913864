"""Uploads (appendix A.2.7, protocol.md §4): a robot's files for the run it executes (screenshots,
videos, checkpoints, outputs) or a user's; content stored once by SHA-256."""

from __future__ import annotations

from typing import BinaryIO

from common.db import db
from common.envelope import ApiError
from common.files import FileTooLarge, StoredFile, save_file
from node.runs import services as runs
from node.runtime import runtime
from protocol.codes import BAD_REQUEST, TOO_LARGE


def store_upload(
    stream: BinaryIO,
    *,
    source: str,
    name: str,
    content_type: str,
    owner: str,
    robot_id: str | None,
    run_id: str | None,
) -> StoredFile:
    """Store an upload of ``owner`` (``robot:ID`` or ``user:NAME``) and commit; a robot's file for a
    run must be for a run it executes, and a checkpoint becomes that run's latest (restored on
    failover). ApiError 10006 for another robot's run, 10007 over the source's limit."""
    cfg = runtime().config
    if run_id and robot_id:
        runs.owned_run(robot_id, run_id)
    elif source == "checkpoint":
        raise ApiError(BAD_REQUEST, "runInstanceId: a checkpoint belongs to a run the robot executes")
    db.session.rollback()  # no transaction held while the content streams to disk
    try:
        stored = save_file(
            runtime().blobs,
            stream,
            source=source,
            name=name or "file",
            owner=owner,
            limit=cfg.upload_limit(source),
            content_type=content_type or "application/octet-stream",
            run_instance_id=run_id,
        )
    except FileTooLarge as exc:
        raise ApiError(TOO_LARGE, f"file: {exc} (limit for {source})", 413) from None
    db.session.commit()
    if source == "checkpoint" and robot_id and run_id:
        runs.set_checkpoint(robot_id, run_id, stored.id)
    return stored
