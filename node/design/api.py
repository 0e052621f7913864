"""The design center over the API: my personal folder (files robots delivered to me)."""

from __future__ import annotations

from flask import request

from common.api.registry import api_blueprint, api_route
from common.api.schemas import ListOut, Page
from common.auth.services import Principal
from common.envelope import envelope
from common.timeutil import iso
from common.urls import base_url
from node.files.personal import list_personal_files
from node.runtime import runtime

bp = api_blueprint("design_api", __name__)


@api_route(
    bp,
    "/me/files",
    "GET",
    summary="My personal folder (files robots delivered to me)",
    permission="run.read",
    query=Page,
    response=ListOut,
    tag="design",
)
def my_files(query: Page, user: Principal):
    rows, total = list_personal_files(str(user.id), query.limit, query.offset)
    rt = runtime()
    base = base_url(request, rt.config.public_url)
    items = [
        {
            "id": f.id,
            "fileId": f.file_id,
            "fileName": f.file_name,
            "runInstanceId": f.run_instance_id,
            "addedBy": f.added_by,
            "createdAt": iso(f.created_at),
            "downloadUrl": rt.links.url(base, f.file_id, f"user:{user.username}"),
        }
        for f in rows
    ]
    return envelope({"items": items, "total": total})
