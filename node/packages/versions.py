"""Package versions as the run core needs them: immutable, so each is read once and cached per app."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app
from sqlalchemy import bindparam, select

from common.db import connection
from common.envelope import NOT_FOUND, ApiError
from node.packages.models import App, AppVersion

KEY = "rpa.packages"


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


def init_app(app: Flask) -> None:
    """Give ``app`` its own version cache (id → VersionRef)."""
    app.extensions[KEY] = {}


def _cache() -> dict[int, VersionRef]:
    return current_app.extensions[KEY]


def _ref(row) -> VersionRef:
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
    cache = _cache()
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
    if connection().execute(select(App.id).where(App.id == app_id)).first() is None:
        raise ApiError(NOT_FOUND, f"appId: no application {app_id!r}", 404)
    if version:
        raise ApiError(NOT_FOUND, f"version: app {app_id} has no version {version!r}", 404)
    raise ApiError(NOT_FOUND, f"appId: app {app_id} has no package", 404)


def version_ref(version_id: int) -> VersionRef:
    """A package version by its row id (centers and the run core never read the tables)."""
    hit = _cache().get(version_id)
    if hit is not None:
        return hit
    row = connection().execute(_VERSION_BY_ID, {"b_id": version_id}).first()
    if row is None:
        raise ApiError(NOT_FOUND, f"version: no package version {version_id}", 404)
    return _ref(row)
