"""The management API under ``/api/v1`` (architecture.md, Management API). Views parse, call one
service, and answer with the envelope.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from common.auth import services as auth
from common.auth.services import Principal
from common.envelope import BAD_REQUEST, ApiError, envelope
from common.timeutil import iso
from node.api import schemas as s
from node.api import serialize as out
from node.api.registry import api_route, openapi
from node.context import runtime
from node.design import services as design_services
from node.hub.urls import base_url
from node.schedule import robots, runs, suppliers
from node.schedule.dispatch import file_link
from node.schedule.runs import RunOptions
from node.share import packages

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@api_route(
    bp,
    "/auth/token",
    "POST",
    summary="Exchange username and password for a bearer token",
    permission=None,
    body=s.TokenRequest,
    response=s.TokenResponse,
    tag="auth",
)
def token(body: s.TokenRequest):
    try:
        user = auth.authenticate(body.username, body.password)
    except auth.AuthError as exc:
        raise ApiError(10401, f"username/password: {exc}", 401) from None
    value, expires = auth.issue_token(user)
    return envelope({"token": value, "expiresAt": iso(expires)})


@api_route(
    bp, "/users", "POST", summary="Create a user", permission="user.manage", body=s.UserCreate, tag="auth"
)
def create_user(body: s.UserCreate, user: Principal):
    try:
        created = auth.create_user(body.username, body.password, body.role, actor=f"user:{user.username}")
    except auth.AuthError as exc:
        raise ApiError(BAD_REQUEST, str(exc)) from None
    return envelope({"username": created.username, "role": created.role}, status=201)


@api_route(
    bp,
    "/suppliers",
    "POST",
    summary="Add a supplier (vendor); its secret is shown once",
    permission="supplier.manage",
    body=s.SupplierCreate,
    response=s.SupplierCreated,
    tag="robots",
)
def add_supplier(body: s.SupplierCreate, user: Principal):
    sup, secret = suppliers.add_supplier(body.code, body.name, body.engines, actor=f"user:{user.username}")
    return envelope({"code": sup.code, "secret": secret}, status=201)


@api_route(bp, "/suppliers", "GET", summary="List suppliers", permission="robot.read", tag="robots")
def list_suppliers(user: Principal):
    items = [
        {"code": x.code, "name": x.name, "engines": x.engines, "enabled": x.enabled}
        for x in suppliers.list_suppliers()
    ]
    return envelope({"items": items, "total": len(items)})


@api_route(
    bp,
    "/robots",
    "GET",
    summary="List robots (executors)",
    permission="robot.read",
    query=s.Page,
    response=s.ListOut,
    tag="robots",
)
def list_robots(query: s.Page, user: Principal):
    rows, total = robots.list_robots(query.limit, query.offset)
    return envelope({"items": [out.robot(r) for r in rows], "total": total})


@api_route(
    bp,
    "/robots/<robot_id>",
    "GET",
    summary="One robot",
    permission="robot.read",
    response=s.RobotOut,
    tag="robots",
)
def get_robot(robot_id: str, user: Principal):
    return envelope(out.robot(robots.get_robot(robot_id)))


@api_route(
    bp,
    "/robots/<robot_id>/state",
    "POST",
    summary="Approve/enable or disable a robot",
    permission="robot.manage",
    body=s.RobotStateChange,
    response=s.RobotOut,
    tag="robots",
)
def set_robot_state(robot_id: str, body: s.RobotStateChange, user: Principal):
    return envelope(out.robot(robots.set_state(robot_id, body.state, f"user:{user.username}")))


@api_route(
    bp,
    "/licenses",
    "POST",
    summary="Load a license, optionally bound to a robot",
    permission="license.manage",
    body=s.LicenseCreate,
    response=s.LicenseOut,
    tag="robots",
)
def add_license(body: s.LicenseCreate, user: Principal):
    lic = robots.add_license(body.name, body.content, body.robotId, f"user:{user.username}")
    return envelope(out.license_(lic), status=201)


@api_route(
    bp,
    "/licenses",
    "GET",
    summary="List licenses (contents are never shown)",
    permission="license.manage",
    tag="robots",
)
def list_licenses(user: Principal):
    items = [out.license_(x) for x in robots.list_licenses()]
    return envelope({"items": items, "total": len(items)})


@api_route(
    bp,
    "/licenses/<int:license_id>/bind",
    "POST",
    summary="Bind a license to a robot",
    permission="license.manage",
    body=s.LicenseBind,
    response=s.LicenseOut,
    tag="robots",
)
def bind_license(license_id: int, body: s.LicenseBind, user: Principal):
    return envelope(out.license_(robots.bind_license(license_id, body.robotId, f"user:{user.username}")))


@api_route(
    bp,
    "/apps",
    "POST",
    summary="Upload a process package (zip with manifest.json)",
    permission="app.publish",
    response=s.AppCreated,
    tag="apps",
    multipart={
        "package": "file",
        "name": "string",
        "description": "string",
        "category": "string",
        "businessDomain": "string",
        "scenario": "string",
        "tags": "string",
    },
)
def upload_app(user: Principal):
    pkg = request.files.get("package")
    if pkg is None:
        raise ApiError(BAD_REQUEST, "package: multipart field 'package' (a zip) is required")
    form = request.form
    for field, limit in (
        ("name", 128),
        ("description", 4000),
        ("category", 64),
        ("businessDomain", 64),
        ("scenario", 128),
        ("tags", 1000),
    ):
        if len(form.get(field, "")) > limit:
            raise ApiError(BAD_REQUEST, f"{field}: at most {limit} characters")
    tags = [t.strip() for t in form.get("tags", "").split(",") if t.strip()]
    app, ver = packages.publish_package(
        pkg.stream,
        name=form.get("name", ""),
        description=form.get("description", ""),
        category=form.get("category", ""),
        business_domain=form.get("businessDomain", ""),
        scenario=form.get("scenario", ""),
        tags=tags,
        actor=f"user:{user.username}",
    )
    return envelope({"appId": app.id, "version": ver.version, "sha256": ver.sha256}, status=201)


@api_route(
    bp,
    "/apps",
    "GET",
    summary="List applications",
    permission="app.read",
    query=s.Page,
    response=s.ListOut,
    tag="apps",
)
def list_apps(query: s.Page, user: Principal):
    rows, total = packages.list_apps(query.limit, query.offset)
    versions = packages.versions_of([a.id for a in rows])
    return envelope({"items": [out.app(a, versions[a.id]) for a in rows], "total": total})


@api_route(
    bp,
    "/apps/<app_id>",
    "GET",
    summary="One application and its versions",
    permission="app.read",
    response=s.AppOut,
    tag="apps",
)
def get_app(app_id: str, user: Principal):
    app = packages.get_app(app_id)
    return envelope(out.app(app, packages.versions_of([app.id])[app.id]))


@api_route(
    bp,
    "/runs",
    "POST",
    summary="Start a run on a chosen robot or on any idle eligible robot",
    permission="run.start",
    body=s.RunCreate,
    response=s.RunCreated,
    tag="runs",
)
def start_run(body: s.RunCreate, user: Principal):
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
    query=s.RunPage,
    response=s.ListOut,
    tag="runs",
)
def list_runs(query: s.RunPage, user: Principal):
    rows, total = runs.list_runs(query.status, query.limit, query.offset)
    return envelope({"items": [out.run(r) for r in rows], "total": total})


@api_route(
    bp, "/runs/<run_id>", "GET", summary="One run", permission="run.read", response=s.RunOut, tag="runs"
)
def get_run(run_id: str, user: Principal):
    return envelope(out.run(runs.read_run(run_id)))


@api_route(
    bp,
    "/runs/<run_id>/transitions",
    "GET",
    summary="Every status change of a run, with time and cause",
    permission="run.read",
    response=s.ListOut,
    tag="runs",
)
def run_transitions(run_id: str, user: Principal):
    items = [out.transition(t) for t in runs.transitions_of(run_id)]
    return envelope({"items": items, "total": len(items)})


@api_route(
    bp,
    "/runs/<run_id>/logs",
    "GET",
    summary="A run's logs in logAt order",
    permission="run.read",
    query=s.Page,
    response=s.ListOut,
    tag="runs",
)
def run_logs(run_id: str, query: s.Page, user: Principal):
    rows, total = runs.logs_of(run_id, query.limit, query.offset)
    return envelope({"items": [out.log_line(x) for x in rows], "total": total})


@api_route(
    bp,
    "/runs/<run_id>/stop",
    "POST",
    summary="Stop a run",
    permission="run.start",
    response=s.RunOut,
    tag="runs",
)
def stop_run(run_id: str, user: Principal):
    return envelope(out.run(runs.stop_run(run_id, f"user:{user.username}")))


@api_route(
    bp,
    "/me/files",
    "GET",
    summary="My personal folder (files robots delivered to me)",
    permission="run.read",
    query=s.Page,
    response=s.ListOut,
    tag="design",
)
def my_files(query: s.Page, user: Principal):
    rows, total = design_services.list_personal_files(str(user.id), query.limit, query.offset)
    base = base_url(request, runtime().config.public_url)
    items = [
        {
            "id": f.id,
            "fileId": f.file_id,
            "fileName": f.file_name,
            "runInstanceId": f.run_instance_id,
            "addedBy": f.added_by,
            "createdAt": iso(f.created_at),
            "downloadUrl": file_link(base, f.file_id, f"user:{user.username}"),
        }
        for f in rows
    ]
    return envelope({"items": items, "total": total})


@bp.get("/openapi.json")
def openapi_json():
    return jsonify(
        openapi("RPA province node management API", current_app.config.get("RPA_VERSION", "0.1.0"))
    )
