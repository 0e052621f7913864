"""Files (appendix A.2.7, protocol.md §4): upload by robots and users, signed download links."""

from __future__ import annotations

from flask import Blueprint, g, request, send_file

from common.auth.guard import require
from common.db import db
from common.envelope import BAD_REQUEST, FORBIDDEN, NOT_FOUND, ApiError, envelope
from common.files import SOURCES, FileTooLarge, get_file, save_file
from node.context import runtime
from node.hub.robot_auth import robot_from_headers
from node.hub.urls import base_url
from node.schedule import runs
from node.schedule.dispatch import file_link

bp = Blueprint("files", __name__)


def _caller() -> str:
    """``robot:ID`` for an executor (robot headers), else ``user:NAME`` for a user allowed to upload."""
    if request.headers.get("robotId"):
        return "robot:" + robot_from_headers(request, allow_supplier_secret=True)
    return f"user:{require('file.upload').username}"


@bp.post("/v1/file/<source>/upload")
def upload(source: str):
    """Store the multipart field ``file``; answer ``{fileId, fileName, fileUrl}``."""
    if source not in SOURCES:
        raise ApiError(BAD_REQUEST, f"source: one of {', '.join(SOURCES)}", 404)
    owner = _caller()
    rt = runtime()
    upload_file = request.files.get("file")
    if upload_file is None:
        raise ApiError(BAD_REQUEST, "file: multipart field 'file' is required")
    run_id = request.form.get("runInstanceId") or None
    scope = g.get("rpa_run_scope")
    if scope is not None:  # a run token: only that run's files
        if run_id not in (None, scope):
            raise ApiError(FORBIDDEN, "runInstanceId: the run token is for another run", 403)
        run_id = scope
    robot_id = owner.removeprefix("robot:") if owner.startswith("robot:") else None
    if run_id and robot_id:
        runs.owned_run(robot_id, run_id)
    elif source == "checkpoint":
        raise ApiError(BAD_REQUEST, "runInstanceId: a checkpoint belongs to a run the robot executes")
    db.session.rollback()
    try:
        stored = save_file(
            rt.blobs,
            upload_file.stream,
            source=source,
            name=upload_file.filename or "file",
            owner=owner,
            limit=rt.config.upload_limits.get(source, 100 * 2**20),
            content_type=upload_file.mimetype or "application/octet-stream",
            run_instance_id=run_id,
        )
    except FileTooLarge as exc:
        raise ApiError(10007, f"file: {exc} (limit for {source})", 413) from None
    db.session.commit()
    if source == "checkpoint" and robot_id and run_id:
        runs.set_checkpoint(robot_id, run_id, stored.id)
    base = base_url(request, rt.config.public_url)
    return envelope(
        {"fileId": stored.id, "fileName": stored.name, "fileUrl": file_link(base, stored.id, owner)}
    )


@bp.get("/v1/file/<file_id>/content")
def content(file_id: str):
    """Download through a signed, expiring link (a plain GET, no other credentials)."""
    token = request.args.get("token", "")
    if runtime().links.verify(token, file_id) is None:
        raise ApiError(FORBIDDEN, "token: link is invalid or expired", 403)
    row = get_file(file_id)
    if row is None:
        raise ApiError(NOT_FOUND, f"fileId: no file {file_id!r}", 404)
    path = runtime().blobs.path_for(row.sha256)
    return send_file(
        path,
        mimetype=row.content_type,
        as_attachment=True,
        download_name=row.name,
        conditional=True,
        etag=row.sha256,
    )
