"""Personal folders: a robot puts a file into the folder of the user who started its run."""

from __future__ import annotations

from sqlalchemy import func, select

from common import audit
from common.db import db
from common.envelope import FORBIDDEN, ApiError
from common.files import get_file
from node.files.models import PersonalFile
from node.runs.services import owned_run
from protocol.codes import BAD_REQUEST


def put_personal_file(
    robot_id: str, file_id: str | None, file_name: str | None, run_id: str | None, user_id: str | None
) -> PersonalFile:
    """A robot puts an uploaded file into the folder of the user who triggered the run it executes."""
    if not run_id:
        raise ApiError(BAD_REQUEST, "runInstanceId: required to choose the user's folder")
    if not file_id:
        raise ApiError(BAD_REQUEST, "fileId: required")
    try:
        run = owned_run(robot_id, run_id)
    except ApiError:
        raise ApiError(
            FORBIDDEN, f"runInstanceId: robot {robot_id} does not execute run {run_id}", 403
        ) from None
    if user_id and user_id != run.user_id:
        raise ApiError(FORBIDDEN, "userId: a robot may only write to the folder of the run's user", 403)
    stored = get_file(file_id)
    if stored is None:
        raise ApiError(BAD_REQUEST, f"fileId: no uploaded file {file_id!r}")
    row = PersonalFile(
        user_id=run.user_id,
        file_id=file_id,
        file_name=(file_name or stored.name)[:255],
        run_instance_id=run_id,
        added_by=f"robot:{robot_id}",
    )
    db.session.add(row)
    audit.record(
        "personalfile.add",
        target=f"user:{run.user_id}",
        actor=f"robot:{robot_id}",
        detail={"fileId": file_id, "runInstanceId": run_id},
    )
    db.session.commit()
    return row


def list_personal_files(user_id: str, limit: int, offset: int) -> tuple[list[PersonalFile], int]:
    """A page of the user's personal folder, newest first, and how many files it holds."""
    q = select(PersonalFile).where(PersonalFile.user_id == user_id)
    total = db.session.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = db.session.scalars(q.order_by(PersonalFile.id.desc()).limit(limit).offset(offset)).all()
    return list(rows), total
