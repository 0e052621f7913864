"""Build a process package (zip with manifest.json at its root) from a folder."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

SKIP_DIRS = {"__pycache__", ".git", "output"}
FIXED_TIME = (2024, 1, 1, 0, 0, 0)  # same content -> same bytes -> same SHA-256


def build_package(folder: str | os.PathLike[str]) -> bytes:
    """Zip ``folder`` deterministically (sorted names, fixed timestamps); it must hold manifest.json."""
    root = Path(folder)
    if not (root / "manifest.json").is_file():
        raise FileNotFoundError(f"{root} has no manifest.json")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(root)
            if path.is_dir() or SKIP_DIRS & set(rel.parts) or path.suffix == ".pyc":
                continue
            info = zipfile.ZipInfo(rel.as_posix(), FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, path.read_bytes())
    return buf.getvalue()


def sample_path(name: str = "meter_reading") -> Path:
    """Folder of a bundled sample package."""
    return Path(__file__).resolve().parent / name


if __name__ == "__main__":  # pragma: no cover
    import sys

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "meter_reading")
    data = build_package(target if target.exists() else sample_path(str(target)))
    out = Path(sys.argv[2] if len(sys.argv) > 2 else f"{target.name}.zip")
    out.write_bytes(data)
    print(f"{out} ({len(data)} bytes)")
