"""Run arguments → Robot Framework variables, and housekeeping of the runs folder."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from executor import errors
from executor.errors import RunError
from executor.packages import Manifest
from executor.sdk import messages as m

#: Argument types passed through a JSON variable file rather than ``--variable`` (typed values,
#: and secrets stay off the command line that every local user can read).
VARFILE_TYPES = {"secret", "json"}


def build_variables(
    specs: Manifest, arguments: list[m.Argument], fetch_file: Callable[[str, str], str]
) -> tuple[list[str], dict[str, Any]]:
    """Turn run arguments into ``--variable name:value`` options and a variable-file dict.

    Declared arguments missing from the run get their default; a required one without a value is
    an error. A ``file`` argument holding a URL is downloaded and replaced by the local path.
    """
    given = {a.name: a for a in arguments}
    for spec in specs.arguments:
        if spec.name not in given:
            if spec.default is not None:
                given[spec.name] = m.Argument(name=spec.name, type=spec.type, value=spec.default)
            elif spec.required:
                raise RunError(errors.ARGUMENTS_INVALID, f"required argument {spec.name!r} is missing")
    options: list[str] = []
    varfile: dict[str, Any] = {}
    for arg in given.values():
        name = arg.name.strip()
        if not name or not name.replace("_", "").replace(" ", "").isalnum():
            raise RunError(
                errors.ARGUMENTS_INVALID, f"argument name {arg.name!r} is not a valid variable name"
            )
        value: Any = arg.value
        kind = arg.type.lower()
        if kind == "file" and value.startswith(("http://", "https://", "/")):
            value = fetch_file(name, value)
        if kind == "json":
            try:
                varfile[name] = json.loads(value)
            except ValueError as exc:
                raise RunError(errors.ARGUMENTS_INVALID, f"argument {name!r} is not valid JSON") from exc
        elif kind in VARFILE_TYPES or "\n" in value or "\r" in value:
            varfile[name] = value
        else:
            options += ["--variable", f"{name}:{value}"]
    return options, varfile


def cleanup_runs(runs_dir: Path, keep: int) -> None:
    """Keep only the ``keep`` most recent run folders."""
    if not runs_dir.exists():
        return
    dirs = sorted(
        (p for p in runs_dir.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True
    )
    for old in dirs[keep:]:
        shutil.rmtree(old, ignore_errors=True)
