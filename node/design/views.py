"""Design center endpoints: ``POST /design/personalfile`` (appendix A.2.8)."""

from __future__ import annotations

from flask import Blueprint, g, request
from pydantic import BaseModel, ConfigDict, Field

from common.envelope import FORBIDDEN, ApiError, envelope
from node.design import services
from node.hub.protocol import parse_body
from node.hub.robot_auth import robot_from_headers

bp = Blueprint("design", __name__, url_prefix="/design")


class PersonalFileBody(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    fileId: str | None = Field(default=None, max_length=40)
    fileName: str | None = Field(default=None, max_length=255)
    runInstanceId: str | None = Field(default=None, max_length=40)
    userId: str | None = Field(default=None, max_length=64)
    userName: str | None = Field(default=None, max_length=128)


@bp.post("/personalfile")
def personal_file():
    robot_id = robot_from_headers(request, allow_supplier_secret=True)
    body = parse_body(PersonalFileBody, request.get_json(silent=True))
    scope = g.get("rpa_run_scope")  # set when a run token authenticated the call
    if scope is not None:
        if body.runInstanceId not in (None, scope):
            raise ApiError(FORBIDDEN, "runInstanceId: the run token is for another run", 403)
        body.runInstanceId = scope
    row = services.put_personal_file(robot_id, body.fileId, body.fileName, body.runInstanceId, body.userId)
    return envelope({"id": row.id, "userId": row.user_id, "fileId": row.file_id})
