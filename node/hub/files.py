"""Files (appendix A.2.7-A.2.8, protocol.md §4): uploads by robots and users, signed download links,
and a robot's delivery into the personal folder of the user who started its run."""

from __future__ import annotations

from flask import Blueprint, g, request, send_file
from pydantic import BaseModel, ConfigDict, Field

from common.auth.csrf import exempt
from common.auth.guard import require
from common.envelope import FORBIDDEN, NOT_FOUND, ApiError, envelope
from common.errors import json_errors
from common.files import SOURCES, get_file
from common.jsonbody import request_json
from common.urls import base_url
from node.files.personal import put_personal_file
from node.files.uploads import store_upload
from node.hub.messages import parse_body
from node.hub.robot_auth import robot_from_headers
from node.runtime import runtime
from protocol.codes import BAD_REQUEST

bp = Blueprint("files", __name__)
json_errors(bp)


def _caller() -> str:
    """``robot:ID`` for an executor (robot headers), else ``user:NAME`` for a user allowed to upload."""
    if request.headers.get("robotId"):
        return "robot:" + robot_from_headers(request, allow_supplier_secret=True)
    return f"user:{require('file.upload').username}"


def _scoped(run_id: str | None) -> str | None:
    """With a run token, the call is held to the token's run."""
    scope = g.get("rpa_run_scope")
    if scope is None:
        return run_id
    if run_id not in (None, scope):
        raise ApiError(FORBIDDEN, "runInstanceId: the run token is for another run", 403)
    return scope


@bp.post("/v1/file/<source>/upload")
@exempt
def upload(source: str):
    """Store the multipart field ``file``; answer ``{fileId, fileName, fileUrl}``."""
    if source not in SOURCES:
        raise ApiError(BAD_REQUEST, f"source: one of {', '.join(SOURCES)}", 404)
    owner = _caller()
    # the source's limit, enforced by werkzeug before and while the body is read
    request.max_content_length = runtime().config.upload_body_limit(source)
    upload_file = request.files.get("file")
    if upload_file is None:
        raise ApiError(BAD_REQUEST, "file: multipart field 'file' is required")
    stored = store_upload(
        upload_file.stream,
        source=source,
        name=upload_file.filename or "file",
        content_type=upload_file.mimetype,
        owner=owner,
        robot_id=owner.removeprefix("robot:") if owner.startswith("robot:") else None,
        run_id=_scoped(request.form.get("runInstanceId") or None),
    )
    rt = runtime()
    link = rt.links.url(base_url(request, rt.config.public_url), stored.id, owner)
    return envelope({"fileId": stored.id, "fileName": stored.name, "fileUrl": link})


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


class PersonalFileBody(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    fileId: str | None = Field(default=None, max_length=40)
    fileName: str | None = Field(default=None, max_length=255)
    runInstanceId: str | None = Field(default=None, max_length=40)
    userId: str | None = Field(default=None, max_length=64)
    userName: str | None = Field(default=None, max_length=128)


@bp.post("/design/personalfile")
@exempt
def personal_file():
    """A robot puts an uploaded file into the folder of the user who started its run (A.2.8)."""
    robot_id = robot_from_headers(request, allow_supplier_secret=True)
    body = parse_body(PersonalFileBody, request_json(request, runtime().config.max_frame_bytes))
    run_id = _scoped(body.runInstanceId)
    row = put_personal_file(robot_id, body.fileId, body.fileName, run_id, body.userId)
    return envelope({"id": row.id, "userId": row.user_id, "fileId": row.file_id})
