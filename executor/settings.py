"""Executor settings: defaults < TOML file (``--config``) < ``RPA_EXECUTOR_*`` env < command line."""

from __future__ import annotations

import logging
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

ENV_PREFIX = "RPA_EXECUTOR_"
log = logging.getLogger(__name__)


LEGACY_WORK_DIR = Path("executor-data")  # the default until 0.1: a folder in the working directory


def default_work_dir(robot_id: str) -> Path:
    """Where an executor keeps packages, envs, spool and runs unless told: the user's data folder
    (``$XDG_DATA_HOME`` or ``~/.local/share``) under ``rpa-executor/<robotId>``, never the folder the
    command happens to be started in. An ``executor-data`` folder left there by an earlier version
    is still used (its spool may hold reports not yet sent), with a warning."""
    if LEGACY_WORK_DIR.is_dir():
        log.warning(
            "Using ./%s (the earlier default work dir, which may hold unsent reports); "
            "pass --work-dir or move it to %s",
            LEGACY_WORK_DIR,
            _user_work_dir(robot_id),
        )
        return LEGACY_WORK_DIR.resolve()
    return _user_work_dir(robot_id)


def _user_work_dir(robot_id: str) -> Path:
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return (base / "rpa-executor" / (robot_id or "default")).expanduser().resolve()


@dataclass
class ExecutorSettings:
    """Everything the reference executor needs; see deploy/executor.example.toml."""

    node: str = ""
    robot_id: str = ""
    supplier: str = ""
    secret: str = field(default="", repr=False)
    protocol: str = "ws"
    work_dir: Path | None = None  # None: default_work_dir(robot_id), outside any checkout
    wheelhouse: Path | None = None
    index_url: str | None = None
    heartbeat_interval: float = 5.0  # seconds between heartbeats (the node's default interval is 10 s)
    stop_grace_seconds: float = 10.0  # after a graceful stop signal, wait this long before killing
    display: str = "auto"  # auto | xvfb | none
    video_fps: int = 5
    keyword_depth: int = 2  # keyword nesting levels reported as logs
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    keep_runs: int = 20  # run folders kept on disk
    share_credentials: bool = True  # give robot processes the supplier credentials (RunContext.from_env)

    @classmethod
    def load(cls, config_file: str | os.PathLike[str] | None = None, **overrides: Any) -> ExecutorSettings:
        """Merge the sources; ``overrides`` with value ``None`` are ignored."""
        values: dict[str, Any] = {}
        if config_file:
            with open(config_file, "rb") as fh:
                raw = tomllib.load(fh)
            raw = raw.get("executor", raw)
            values.update({k.replace("-", "_"): v for k, v in raw.items()})
        names = {f.name for f in fields(cls)}
        for name in names:
            env = os.environ.get(ENV_PREFIX + name.upper())
            if env is not None:
                values[name] = env
        values.update({k: v for k, v in overrides.items() if v is not None})
        unknown = set(values) - names
        if unknown:
            raise ValueError(f"unknown executor settings: {', '.join(sorted(unknown))}")
        settings = cls(**values)
        settings._coerce()
        if settings.work_dir is None:
            settings.work_dir = default_work_dir(settings.robot_id)
        return settings

    def _coerce(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if f.type in ("float",):
                setattr(self, f.name, float(value))
            elif f.type in ("int",):
                setattr(self, f.name, int(value))
            elif f.type in ("bool",) and isinstance(value, str):
                setattr(self, f.name, value.strip().lower() in ("1", "true", "yes", "on"))
            elif f.name in ("work_dir", "wheelhouse"):
                # Absolute: the robot process runs in its own run folder.
                setattr(self, f.name, Path(value).expanduser().resolve())
        self.protocol = self.protocol.lower()

    def validate(self) -> None:
        """Raise ``ValueError`` naming what is missing or wrong."""
        missing = [n for n in ("node", "robot_id", "supplier", "secret") if not getattr(self, n)]
        if missing:
            raise ValueError(f"missing settings: {', '.join(missing)}")
        if self.protocol not in ("ws", "http"):
            raise ValueError("protocol must be ws or http")
        if self.display not in ("auto", "xvfb", "none"):
            raise ValueError("display must be auto, xvfb or none")
