"""The process package's container rules (``docs/packages.md``): what a node stores and an executor
extracts. A zip is judged from its central directory before anything is inflated, and the limits
are enforced again while inflating, so a lying header cannot get past.
"""

from __future__ import annotations

import re
import stat
import zipfile
from pathlib import Path, PurePosixPath

MANIFEST = "manifest.json"
MAX_ENTRIES = 10_000  # files and folders in one package
MAX_MANIFEST_BYTES = 1024 * 1024  # manifest.json, inflated
MAX_UNCOMPRESSED = 2 * 1024**3  # every entry inflated, in all
MAX_RATIO = 200  # inflated / compressed size of an entry larger than RATIO_FLOOR
RATIO_FLOOR = 1024 * 1024
_DRIVE = re.compile(r"^[A-Za-z]:")


class PackageRefused(ValueError):
    """The package breaks a container rule; ``entry`` names the offending entry ("" for the zip)."""

    def __init__(self, entry: str, reason: str) -> None:
        super().__init__(f"{entry}: {reason}" if entry else reason)
        self.entry = entry
        self.reason = reason


def _check_name(name: str) -> None:
    if not name or "\x00" in name:
        raise PackageRefused(name, "empty name or NUL in the name")
    if "\\" in name:
        raise PackageRefused(name, "backslash in the path (use '/')")
    if name.startswith("/") or _DRIVE.match(name):
        raise PackageRefused(name, "absolute path")
    if ".." in PurePosixPath(name).parts:
        raise PackageRefused(name, "'..' in the path")


def check_archive(zf: zipfile.ZipFile) -> set[str]:
    """Judge the central directory; returns the entry names. PackageRefused on an absolute path,
    ``..``, a drive letter, a backslash, a symbolic link, a duplicate name, too many entries, too
    much inflated content, or an entry compressed beyond ``MAX_RATIO``."""
    infos = zf.infolist()
    if len(infos) > MAX_ENTRIES:
        raise PackageRefused("", f"{len(infos)} entries; at most {MAX_ENTRIES}")
    names: set[str] = set()
    total = 0
    for info in infos:
        name = info.filename
        _check_name(name)
        if stat.S_ISLNK(info.external_attr >> 16):
            raise PackageRefused(name, "symbolic link")
        key = name.rstrip("/")
        if key in names:
            raise PackageRefused(name, "duplicate name")
        names.add(key)
        total += info.file_size
        if total > MAX_UNCOMPRESSED:
            raise PackageRefused(name, f"more than {MAX_UNCOMPRESSED} bytes inflated in all")
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise PackageRefused(name, f"compressed more than {MAX_RATIO}:1 (a zip bomb?)")
    return names


def read_bounded(zf: zipfile.ZipFile, name: str, limit: int) -> bytes:
    """An entry's content, at most ``limit`` bytes inflated (whatever its header says)."""
    with zf.open(name) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise PackageRefused(name, f"larger than {limit} bytes")
    return data


def extract(zf: zipfile.ZipFile, dest: Path) -> None:
    """Extract a package ``check_archive`` accepted into ``dest``: never outside it, never more than
    each entry's declared size or ``MAX_UNCOMPRESSED`` in all, counted while inflating. Permission
    bits are not taken from the zip (no set-user-id, no executables by surprise)."""
    dest = dest.resolve()
    check_archive(zf)
    written = 0
    for info in zf.infolist():
        target = (dest / info.filename).resolve()
        if target != dest and dest not in target.parents:
            raise PackageRefused(info.filename, "path outside the package")
        if info.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with zf.open(info) as src, open(target, "wb") as out:
            size = 0
            while chunk := src.read(1024 * 1024):
                size += len(chunk)
                written += len(chunk)
                if size > info.file_size or written > MAX_UNCOMPRESSED:
                    raise PackageRefused(info.filename, "inflates to more than its header says")
                out.write(chunk)
