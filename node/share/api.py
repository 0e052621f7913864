"""The application sharing center over the API: publish a process package, browse applications.

Packages themselves (immutable, hashed versions) are the packages kernel's; listing, search and
subscriptions of the marketplace grow here."""

from __future__ import annotations

from flask import request
from pydantic import BaseModel

from common.api.registry import api_blueprint, api_route
from common.api.schemas import ListOut, Page
from common.auth.services import Principal
from common.envelope import ApiError, envelope
from common.text import check_text
from common.timeutil import iso
from node.packages import publish as packages
from node.packages.models import App, AppVersion
from node.runtime import runtime
from protocol.codes import BAD_REQUEST

bp = api_blueprint("share_api", __name__)


class AppCreated(BaseModel):
    appId: str
    version: str
    sha256: str


class AppVersionOut(BaseModel):
    version: str
    engine: str
    entry: str
    sha256: str
    arguments: list[dict]
    createdAt: str


class AppOut(BaseModel):
    appId: str
    name: str
    description: str
    category: str
    businessDomain: str
    scenario: str
    tags: list[str]
    versions: list[AppVersionOut]


def app_out(a: App, versions: list[AppVersion]) -> dict:
    """An application and its versions as the API shows them."""
    return {
        "appId": a.id,
        "name": a.name,
        "description": a.description,
        "category": a.category,
        "businessDomain": a.business_domain,
        "scenario": a.scenario,
        "tags": a.tags or [],
        "versions": [
            {
                "version": v.version,
                "engine": v.engine,
                "entry": v.entry,
                "sha256": v.sha256,
                "arguments": v.manifest.get("arguments", []),
                "createdAt": iso(v.created_at),
            }
            for v in versions
        ],
    }


@api_route(
    bp,
    "/apps",
    "POST",
    summary="Upload a process package (zip with manifest.json)",
    permission="app.publish",
    response=AppCreated,
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
    status=201,
)
def upload_app(user: Principal):
    # the package's limit, enforced by werkzeug before and while the body is read
    request.max_content_length = runtime().config.upload_body_limit("package")
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
        try:
            check_text(form.get(field, ""))
        except ValueError as exc:
            raise ApiError(BAD_REQUEST, f"{field}: {exc}") from None
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
    query=Page,
    response=ListOut,
    tag="apps",
)
def list_apps(query: Page, user: Principal):
    rows, total = packages.list_apps(query.limit, query.offset)
    versions = packages.versions_of([a.id for a in rows])
    return envelope({"items": [app_out(a, versions[a.id]) for a in rows], "total": total})


@api_route(
    bp,
    "/apps/<app_id>",
    "GET",
    summary="One application and its versions",
    permission="app.read",
    response=AppOut,
    tag="apps",
)
def get_app(app_id: str, user: Principal):
    app = packages.get_app(app_id)
    return envelope(app_out(app, packages.versions_of([app.id])[app.id]))
