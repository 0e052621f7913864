"""Process packages: a zip with ``manifest.json`` at its root, validated, stored once by SHA-256."""

from __future__ import annotations

import io
import json
import logging
import secrets
import zipfile
from dataclasses import dataclass
from typing import BinaryIO, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import bindparam, func, select

from common import audit
from common.db import connection, db
from common.envelope import BAD_REQUEST, CONFLICT, NOT_FOUND, ApiError, describe_validation_error
from common.files import FileTooLarge, save_file
from node.context import runtime
from node.share.models import App, AppVersion

log = logging.getLogger(__name__)

ARG_TYPES = ("string", "int", "float", "bool", "json", "file", "secret")
VERSION_RE = r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,31}$"


class ManifestArgument(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
    type: Literal["string", "int", "float", "bool", "json", "file", "secret"] = "string"
    required: bool = False
    default: str | None = None
    description: str = ""


class Manifest(BaseModel):
    """``manifest.json`` of a process package (architecture.md, Process packages)."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1, max_length=128)
    version: str = Field(pattern=VERSION_RE)
    engine: str = Field(default="robotframework", pattern=r"^[A-Za-z0-9._-]{1,64}$")
    entry: str = Field(min_length=1, max_length=255)
    arguments: list[ManifestArgument] = Field(default_factory=list)
    dependencies: list[str] = Field(default_factory=list)

    @field_validator("entry")
    @classmethod
    def _relative_entry(cls, value: str) -> str:
        if value.startswith(("/", "\\")) or ".." in value.replace("\\", "/").split("/"):
            raise ValueError("must be a relative path inside the package")
        return value

    @field_validator("arguments")
    @classmethod
    def _unique_names(cls, value: list[ManifestArgument]) -> list[ManifestArgument]:
        names = [a.name for a in value]
        if len(names) != len(set(names)):
            raise ValueError("argument names must be unique")
        return value


def read_manifest(data: bytes) -> Manifest:
    """Open the zip and validate its manifest; raise ApiError 10001 naming what is wrong."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise ApiError(BAD_REQUEST, "package: not a zip file") from None
    with zf:
        names = set(zf.namelist())
        if "manifest.json" not in names:
            raise ApiError(BAD_REQUEST, "package: manifest.json missing at the zip's root")
        try:
            raw = json.loads(zf.read("manifest.json").decode("utf-8-sig"))
        except (ValueError, UnicodeDecodeError):
            raise ApiError(BAD_REQUEST, "package: manifest.json is not valid JSON") from None
        if not isinstance(raw, dict):
            raise ApiError(BAD_REQUEST, "package: manifest.json must hold an object")
        try:
            manifest = Manifest.model_validate(raw)
        except ValidationError as exc:
            raise ApiError(BAD_REQUEST, "manifest." + describe_validation_error(exc)) from None
        if manifest.entry not in names:
            raise ApiError(BAD_REQUEST, f"manifest.entry: {manifest.entry!r} is not in the package")
    return manifest


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
    """Store a package as a new immutable version of the app ``name`` (created on first upload)."""
    rt = runtime()
    limit = rt.config.upload_limits.get("package", 500 * 2**20)
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise ApiError(BAD_REQUEST, f"package: larger than {limit} bytes", 413)
    manifest = read_manifest(data)
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
    try:
        stored = save_file(
            rt.blobs,
            io.BytesIO(data),
            source="package",
            name=f"{app_name}-{manifest.version}.zip",
            owner=actor,
            limit=limit,
            content_type="application/zip",
        )
    except FileTooLarge as exc:
        raise ApiError(BAD_REQUEST, f"package: {exc}", 413) from None
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
    db.session.commit()
    log.info("App %s: version %s published (%s)", app.id, manifest.version, stored.sha256[:12])
    return app, ver


def get_app(app_id: str) -> App:
    app = db.session.get(App, app_id)
    if app is None:
        raise ApiError(NOT_FOUND, f"appId: no application {app_id!r}", 404)
    return app


@dataclass(frozen=True)
class VersionRef:
    """What other centers need of a package version (versions are immutable, so it can be cached)."""

    id: int
    app_id: str
    version: str
    engine: str
    entry: str
    name: str
    arguments: list
    package_file_id: str
    sha256: str


_VERSION_COLUMNS = [
    AppVersion.id,
    AppVersion.app_id,
    AppVersion.version,
    AppVersion.engine,
    AppVersion.entry,
    AppVersion.manifest,
    AppVersion.package_file_id,
    AppVersion.sha256,
]
_VERSION_BY_ID = select(*_VERSION_COLUMNS).where(AppVersion.id == bindparam("b_id"))
_VERSION_ID_BY_NAME = select(AppVersion.id).where(
    AppVersion.app_id == bindparam("b_app"), AppVersion.version == bindparam("b_version")
)
_NEWEST_VERSION_ID = (
    select(AppVersion.id)
    .where(AppVersion.app_id == bindparam("b_app"))
    .order_by(AppVersion.id.desc())
    .limit(1)
)
VERSION_CACHE_SIZE = 1024


def _ref(row) -> VersionRef:  # noqa: ANN001
    manifest = row.manifest or {}
    ref = VersionRef(
        id=row.id,
        app_id=row.app_id,
        version=row.version,
        engine=row.engine,
        entry=row.entry,
        name=manifest.get("name") or "",
        arguments=manifest.get("arguments", []),
        package_file_id=row.package_file_id,
        sha256=row.sha256,
    )
    cache = runtime().extras.setdefault("versions", {})
    if len(cache) >= VERSION_CACHE_SIZE:
        cache.clear()
    cache[ref.id] = ref
    return ref


def resolve_version(app_id: str, version: str | None) -> VersionRef:
    """The named version of an app, or its newest when ``version`` is empty.

    Only the id is read here (the newest can change); the version itself comes from the cache.
    """
    conn = connection()
    if version:
        version_id = conn.execute(_VERSION_ID_BY_NAME, {"b_app": app_id, "b_version": version}).scalar()
    else:
        version_id = conn.execute(_NEWEST_VERSION_ID, {"b_app": app_id}).scalar()
    if version_id is not None:
        return version_ref(version_id)
    get_app(app_id)  # 404 names the app when it does not exist
    if version:
        raise ApiError(NOT_FOUND, f"version: app {app_id} has no version {version!r}", 404)
    raise ApiError(NOT_FOUND, f"appId: app {app_id} has no package", 404)


def version_ref(version_id: int) -> VersionRef:
    """A package version by its row id (for other centers: they never read share's tables)."""
    hit = runtime().extras.get("versions", {}).get(version_id)
    if hit is not None:
        return hit
    row = connection().execute(_VERSION_BY_ID, {"b_id": version_id}).first()
    if row is None:
        raise ApiError(NOT_FOUND, f"version: no package version {version_id}", 404)
    return _ref(row)


def list_apps(limit: int, offset: int) -> tuple[list[App], int]:
    total = db.session.scalar(select(func.count()).select_from(App)) or 0
    rows = db.session.scalars(select(App).order_by(App.created_at.desc()).limit(limit).offset(offset)).all()
    return list(rows), total


def versions_of(app_ids: list[str]) -> dict[str, list[AppVersion]]:
    out: dict[str, list[AppVersion]] = {a: [] for a in app_ids}
    if app_ids:
        for ver in db.session.scalars(
            select(AppVersion).where(AppVersion.app_id.in_(app_ids)).order_by(AppVersion.id)
        ):
            out[ver.app_id].append(ver)
    return out
