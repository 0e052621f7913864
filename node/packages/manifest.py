"""The package format: a zip with ``manifest.json`` at its root (``docs/packages.md``), validated."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from common.envelope import ApiError, describe_validation_error
from protocol.codes import BAD_REQUEST
from protocol.package import MANIFEST, MAX_MANIFEST_BYTES, PackageRefused, check_archive, read_bounded

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


def read_manifest(path: Path) -> Manifest:
    """Judge the zip at ``path`` from its central directory (``protocol.package``) and validate its
    manifest; raise ApiError 10001 naming the entry or field that is wrong. Only the manifest is
    inflated, at most ``MAX_MANIFEST_BYTES`` of it."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise ApiError(BAD_REQUEST, "package: not a zip file") from None
    with zf:
        try:
            names = check_archive(zf)
            if MANIFEST not in names:
                raise ApiError(BAD_REQUEST, "package: manifest.json missing at the zip's root")
            text = read_bounded(zf, MANIFEST, MAX_MANIFEST_BYTES)
        except PackageRefused as exc:
            raise ApiError(BAD_REQUEST, f"package: entry {exc}") from None
        except (zipfile.BadZipFile, NotImplementedError, EOFError, OSError) as exc:
            raise ApiError(BAD_REQUEST, f"package: manifest.json cannot be read ({exc})") from None
        try:
            raw = json.loads(text.decode("utf-8-sig"))
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise ApiError(BAD_REQUEST, "package: manifest.json is not valid JSON") from None
        if not isinstance(raw, dict):
            raise ApiError(BAD_REQUEST, "package: manifest.json must hold an object")
        try:
            manifest = Manifest.model_validate(raw)
        except ValidationError as exc:
            raise ApiError(BAD_REQUEST, "manifest." + describe_validation_error(exc)) from None
        entry = manifest.entry.rstrip("/")
        if entry not in names and not any(n.startswith(entry + "/") for n in names):
            raise ApiError(BAD_REQUEST, f"manifest.entry: {manifest.entry!r} is not in the package")
    return manifest
