"""Publishing process packages: each upload is a new immutable version of an application, stored
once by SHA-256; and reading applications with their versions."""

from __future__ import annotations

import logging
import secrets
from typing import BinaryIO

from sqlalchemy import func, select

from common import audit
from common.db import db
from common.envelope import CONFLICT, NOT_FOUND, ApiError
from common.files import FileTooLarge, Staged, add_file_row
from node.packages.manifest import read_manifest
from node.packages.models import App, AppVersion
from node.runtime import runtime
from protocol.codes import BAD_REQUEST, TOO_LARGE

log = logging.getLogger(__name__)


def publish_package(
    stream: BinaryIO,
    *,
    name: str,
    description: str = "",
    category: str = "",
    business_domain: str = "",
    scenario: str = "",
    tags: list[str] | None = None,
    actor: str,
) -> tuple[App, AppVersion]:
    """Store a package as a new immutable version of the app ``name`` (created on first upload).

    The upload streams to a staged file (the size limit counted while reading, one chunk in
    memory), is judged there (``read_manifest``), and enters the store only when accepted."""
    rt = runtime()
    limit = rt.config.upload_limit("package")
    try:
        staged = rt.blobs.stage(stream, limit)
    except FileTooLarge:
        raise ApiError(TOO_LARGE, f"package: larger than {limit} bytes", 413) from None
    try:
        app, ver = _publish(staged, name, description, category, business_domain, scenario, tags, actor)
    except BaseException:
        staged.discard()
        db.session.rollback()
        raise
    log.info("App %s: version %s published (%s)", app.id, ver.version, ver.sha256[:12])
    return app, ver


def _publish(
    staged: Staged,
    name: str,
    description: str,
    category: str,
    business_domain: str,
    scenario: str,
    tags: list[str] | None,
    actor: str,
) -> tuple[App, AppVersion]:
    manifest = read_manifest(staged.path)
    app_name = (name or manifest.name).strip()
    if not app_name or len(app_name) > 128:
        raise ApiError(BAD_REQUEST, "name: 1-128 characters")
    app = db.session.scalar(select(App).where(App.name == app_name))
    if app is None:
        app = App(
            id="a_" + secrets.token_hex(8),
            name=app_name,
            description=description,
            category=category,
            business_domain=business_domain,
            scenario=scenario,
            tags=list(tags or []),
            created_by=actor,
        )
        db.session.add(app)
    elif db.session.scalar(
        select(AppVersion.id).where(AppVersion.app_id == app.id, AppVersion.version == manifest.version)
    ):
        raise ApiError(
            CONFLICT, f"version: {app_name} {manifest.version} exists; versions are immutable", 409
        )
    stored = add_file_row(
        staged.sha256,
        staged.size,
        source="package",
        name=f"{app_name}-{manifest.version}.zip",
        owner=actor,
        content_type="application/zip",
    )
    ver = AppVersion(
        app_id=app.id,
        version=manifest.version,
        engine=manifest.engine,
        entry=manifest.entry,
        manifest=manifest.model_dump(),
        package_file_id=stored.id,
        sha256=stored.sha256,
        created_by=actor,
    )
    db.session.add(ver)
    db.session.flush()
    audit.record(
        "app.publish",
        target=f"app:{app.id}",
        actor=actor,
        detail={"version": manifest.version, "sha256": stored.sha256},
    )
    staged.keep()  # the content is in the store before the rows that name it are committed
    db.session.commit()
    return app, ver


def get_app(app_id: str) -> App:
    """The application, or ApiError 10404."""
    app = db.session.get(App, app_id)
    if app is None:
        raise ApiError(NOT_FOUND, f"appId: no application {app_id!r}", 404)
    return app


def list_apps(limit: int, offset: int) -> tuple[list[App], int]:
    """A page of applications, newest first, and how many there are."""
    total = db.session.scalar(select(func.count()).select_from(App)) or 0
    rows = db.session.scalars(select(App).order_by(App.created_at.desc()).limit(limit).offset(offset)).all()
    return list(rows), total


def versions_of(app_ids: list[str]) -> dict[str, list[AppVersion]]:
    """The versions of each named application, oldest first."""
    out: dict[str, list[AppVersion]] = {a: [] for a in app_ids}
    if app_ids:
        for ver in db.session.scalars(
            select(AppVersion).where(AppVersion.app_id.in_(app_ids)).order_by(AppVersion.id)
        ):
            out[ver.app_id].append(ver)
    return out
