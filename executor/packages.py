"""Process packages: a cache by SHA-256, safe extraction, the manifest, and one venv per dependency set."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import executor
from executor import errors
from executor.errors import RunError
from executor.sdk import ConnectionLost, IntegrityError, ProtocolError, Transport
from executor.sdk.files import sha256_file
from protocol.package import PackageRefused, extract

log = logging.getLogger(__name__)

ENGINE = "robotframework"


@dataclass
class ArgumentSpec:
    """One declared argument of a package."""

    name: str
    type: str = "string"
    required: bool = False
    default: Any = None
    description: str = ""


@dataclass
class Manifest:
    """``manifest.json`` at the root of a package."""

    name: str
    version: str
    engine: str = ENGINE
    entry: str = "tasks.robot"
    arguments: list[ArgumentSpec] = field(default_factory=list)
    dependencies: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> Manifest:
        try:
            raw = json.loads(path.read_text(encoding="utf-8-sig"))
        except (OSError, ValueError) as exc:
            raise RunError(errors.PACKAGE_INVALID, f"manifest.json unreadable: {exc}") from exc
        if not isinstance(raw, dict):
            raise RunError(errors.PACKAGE_INVALID, "manifest.json is not an object")
        args = []
        for item in raw.get("arguments") or []:
            if isinstance(item, dict) and item.get("name"):
                args.append(
                    ArgumentSpec(
                        name=str(item["name"]),
                        type=str(item.get("type") or "string"),
                        required=bool(item.get("required")),
                        default=item.get("default"),
                        description=str(item.get("description") or ""),
                    )
                )
        deps = raw.get("dependencies") or []
        if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
            raise RunError(errors.PACKAGE_INVALID, "manifest dependencies must be a list of strings")
        return cls(
            name=str(raw.get("name") or "package"),
            version=str(raw.get("version") or "0"),
            engine=str(raw.get("engine") or ENGINE),
            entry=str(raw.get("entry") or "tasks.robot"),
            arguments=args,
            dependencies=sorted({d.strip() for d in deps if d.strip()}),
        )


@dataclass
class Package:
    """A package extracted and ready to run."""

    sha256: str
    root: Path
    manifest: Manifest

    @property
    def entry(self) -> Path:
        return self.root / self.manifest.entry


def safe_extract(zip_path: Path, dest: Path) -> None:
    """Extract a package by the container rules of ``protocol.package`` (no path outside ``dest``, no
    link, no zip bomb: limits counted while inflating); RunError PACKAGE_INVALID names the entry."""
    with zipfile.ZipFile(zip_path) as zf:
        try:
            extract(zf, dest)
        except PackageRefused as exc:
            raise RunError(errors.PACKAGE_INVALID, f"unsafe package entry {exc}") from None


class PackageCache:
    """Downloads packages once per SHA-256 into ``work/packages`` and extracts them once."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)

    def fetch(
        self, transport: Transport, url: str, sha256: str | None, log_line: Callable[[str], None]
    ) -> Package:
        """Return the extracted package; downloads it unless a verified copy is cached."""
        sha = (sha256 or "").lower() or None
        if sha and (self.dir / sha / ".ready").exists():
            log_line(f"Package {sha[:12]} found in the cache")
            return self._open(sha, self.dir / sha)
        tmp = self.dir / f".download-{os.getpid()}-{os.urandom(4).hex()}.zip"
        try:
            try:
                transport.download(url, tmp, sha)
            except IntegrityError as exc:
                raise RunError(errors.PACKAGE_HASH_MISMATCH, str(exc)) from exc
            except (ConnectionLost, ProtocolError) as exc:
                raise RunError(errors.PACKAGE_DOWNLOAD_FAILED, f"package download failed: {exc}") from exc
            actual = sha256_file(tmp)
            sha = sha or actual
            root = self.dir / actual
            if not (root / ".ready").exists():
                staging = Path(tempfile.mkdtemp(dir=self.dir, prefix=".x-"))
                try:
                    safe_extract(tmp, staging)
                except zipfile.BadZipFile as exc:
                    raise RunError(errors.PACKAGE_INVALID, f"package is not a zip file: {exc}") from exc
                finally:
                    if not (staging / "manifest.json").exists() and staging.exists():
                        shutil.rmtree(staging, ignore_errors=True)
                if not staging.exists():
                    raise RunError(errors.PACKAGE_INVALID, "package has no manifest.json at its root")
                (staging / ".ready").write_text(actual)
                if root.exists():
                    shutil.rmtree(root, ignore_errors=True)
                os.replace(staging, root)
            log_line(f"Package {actual[:12]} downloaded ({tmp.stat().st_size} bytes, SHA-256 verified)")
            return self._open(actual, root)
        finally:
            tmp.unlink(missing_ok=True)

    def _open(self, sha: str, root: Path) -> Package:
        manifest = Manifest.load(root / "manifest.json")
        if manifest.engine.lower() != ENGINE:
            raise RunError(errors.PACKAGE_INVALID, f"engine {manifest.engine!r} is not {ENGINE}")
        pkg = Package(sha, root, manifest)
        if not pkg.entry.resolve().is_relative_to(root.resolve()) or not pkg.entry.exists():
            raise RunError(errors.PACKAGE_INVALID, f"entry {manifest.entry!r} not found in the package")
        return pkg


def dependency_key(deps: list[str]) -> str:
    """Key of a dependency set: same set (any order) and same Python -> same environment."""
    text = "\n".join(sorted(deps)) + f"\npython={sys.version_info[0]}.{sys.version_info[1]}"
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _venv_python(env_dir: Path) -> Path:
    if sys.platform == "win32":
        return env_dir / "Scripts" / "python.exe"
    return env_dir / "bin" / "python"


class EnvManager:
    """One virtual environment per dependency set, built once and reused.

    The environment sees the executor's own packages (Robot Framework, the SDK) through a ``.pth``
    file placed *after* its own site-packages, so a package's pinned versions win.
    """

    def __init__(self, directory: Path, wheelhouse: Path | None = None, index_url: str | None = None) -> None:
        self.dir = directory
        self.wheelhouse = wheelhouse
        self.index_url = index_url
        self.dir.mkdir(parents=True, exist_ok=True)

    def python_for(self, deps: list[str], log_line: Callable[[str], None]) -> str:
        """The interpreter that runs a package with these dependencies."""
        if not deps:
            return sys.executable
        key = dependency_key(deps)
        env_dir = self.dir / key
        python = _venv_python(env_dir)
        if (env_dir / ".ready").exists() and python.exists():
            log_line(f"Environment {key} reused for {', '.join(deps)}")
            return str(python)
        log_line(f"Building environment {key} for {', '.join(deps)}")
        shutil.rmtree(env_dir, ignore_errors=True)
        self._run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], "venv")
        purelib = Path(
            subprocess.check_output(
                [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
            ).strip()
        )
        own = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
        project_root = str(Path(executor.__file__).resolve().parent.parent)
        (purelib / "zz_rpa_executor.pth").write_text("\n".join([project_root, *sorted(own)]) + "\n")
        cmd = [sys.executable, "-m", "pip", "--python", str(python), "install", "--disable-pip-version-check"]
        if self.wheelhouse:
            cmd += ["--no-index", "--find-links", str(self.wheelhouse)]
        elif self.index_url:
            cmd += ["--index-url", self.index_url]
        self._run([*cmd, *deps], "pip install")
        (env_dir / ".ready").write_text("\n".join(deps))
        log_line(f"Environment {key} ready")
        return str(python)

    def _run(self, cmd: list[str], what: str) -> None:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=False)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-10:]
            raise RunError(errors.DEPENDENCIES_FAILED, f"{what} failed: " + " | ".join(tail))
