"""Config classes and their loader.

Precedence (lowest first): class defaults → TOML file (``--config``) → ``RPA_*`` environment variables →
explicit overrides passed by the caller (tests, CLI options). Nothing is read at import time.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from protocol.limits import MAX_FRAME_BYTES

MIB = 2**20
# Bytes an upload of each source may hold (a TOML ``upload_limits`` table overrides some or all).
DEFAULT_UPLOAD_LIMITS = {
    "file": 100 * MIB,
    "demand": 20 * MIB,
    "icon": 2 * MIB,
    "video": 2 * 2**30,
    "screenshot": 10 * MIB,
    "checkpoint": 50 * MIB,
    "package": 500 * MIB,
}
MULTIPART_OVERHEAD = MIB  # what a multipart body holds besides the file (fields, boundaries)


@dataclass(frozen=True)
class BaseConfig:
    """Settings shared by every tier."""

    data_dir: str = "./data"
    database_url: str = ""  # empty: SQLite file in data_dir (embedded mode)
    db_pool_size: int = 20  # PostgreSQL connections per process (opened once, kept; more callers wait)
    redis_url: str = ""  # empty: in-process fakeredis (embedded mode)
    secret_key: str = ""  # empty: generated once and kept in data_dir/secret_key
    admin_password: str = ""  # creates user "admin" on first start when set
    node_code: str = "node"
    hq_url: str = ""
    log_level: str = "INFO"
    log_json: bool = True
    testing: bool = False
    debug_headers: bool = False  # answers carry X-RPA-Process (host:pid) for scale-out tests

    def __post_init__(self) -> None:
        if self.db_pool_size < 1:  # SQLAlchemy reads 0 as "no limit"
            raise ValueError(f"db_pool_size: at least 1 connection, not {self.db_pool_size}")

    def with_overrides(self, **overrides: Any) -> BaseConfig:
        """Return a copy with the given fields replaced (unknown names raise TypeError)."""
        return replace(self, **overrides)


@dataclass(frozen=True)
class NodeConfig(BaseConfig):
    """Settings of a province node."""

    heartbeat_interval: float = 10.0  # seconds an executor waits between heartbeats
    missed_heartbeats_offline: int = 3  # intervals without a heartbeat before a robot is offline
    approve_new_robots: bool = False  # new robots start "pending" until an admin approves them
    secret_max_skew: int = 300  # seconds a supplierSecret timestamp may differ from now
    nonce_ttl: int = 600  # seconds a supplierSecret nonce is remembered (replay protection)
    dispatch_timeout: float = 60.0  # seconds a dispatched run may wait for its first heartbeat/log
    default_run_timeout: float = 0  # seconds; 0 = no run timeout unless the run asks for one
    log_grace_seconds: int = 600  # logs accepted this long after a run's final state
    link_ttl: int = 3600  # seconds a signed download link stays valid
    max_frame_bytes: int = MAX_FRAME_BYTES  # a WebSocket frame or HTTP protocol body (at most protocol's)
    upload_limits: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_UPLOAD_LIMITS))
    log_flush_interval: float = 0.005  # seconds the log writer waits to gather a batch
    run_batch_window: float = 0.0  # seconds run starts/finishes wait to gather a batch (0: what is ready)
    last_seen_flush_interval: float = 1.0  # seconds between coalesced last-seen writes
    sweep_interval: float = 1.0  # seconds between lifecycle sweeps (timeouts, lost robots, queue)
    public_url: str = ""  # absolute base for signed links; empty: taken from the request
    drain_seconds: float = 10.0  # SIGTERM: how long to let in-flight work finish

    def upload_limit(self, source: str) -> int:
        """Bytes an upload of ``source`` may hold (this node's setting, else the default)."""
        return self.upload_limits.get(source, DEFAULT_UPLOAD_LIMITS.get(source, 100 * MIB))

    def upload_body_limit(self, source: str) -> int:
        """Bytes the whole multipart request of such an upload may hold (checked before reading)."""
        return self.upload_limit(source) + MULTIPART_OVERHEAD

    @property
    def offline_after(self) -> float:
        """Seconds of silence after which a robot is offline (and its running run interrupted)."""
        return self.heartbeat_interval * self.missed_heartbeats_offline


@dataclass(frozen=True)
class HQConfig(BaseConfig):
    """Settings of the HQ tier."""

    node_code: str = "hq"


@dataclass(frozen=True)
class TestingConfig(NodeConfig):
    """Node settings for tests: fast timers, testing flag on."""

    testing: bool = True
    heartbeat_interval: float = 1.0
    sweep_interval: float = 0.2
    dispatch_timeout: float = 10.0
    log_json: bool = False


def _coerce(value: str, current: Any) -> Any:
    if isinstance(current, bool):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(current, int):
        return int(value)
    if isinstance(current, float):
        return float(value)
    return value


def load_config(
    cls: type[BaseConfig] = NodeConfig, path: str | Path | None = None, **overrides: Any
) -> BaseConfig:
    """Build a config of ``cls`` from defaults, a TOML file, ``RPA_*`` variables and ``overrides``.

    The TOML file holds the field names at top level (``data_dir = "/var/lib/rpa"``); an unknown key is
    an error, so a typo in a deployment file does not pass silently.
    """
    values: dict[str, Any] = {}
    names = {f.name: f for f in fields(cls)}
    if path:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
        for key, value in data.items():
            if key not in names:
                raise ValueError(f"{path}: unknown setting {key!r}")
            values[key] = value
    defaults = cls()
    for name in names:
        env = os.environ.get(f"RPA_{name.upper()}")
        if env is not None and env != "" and not isinstance(getattr(defaults, name), dict):
            try:
                values[name] = _coerce(env, getattr(defaults, name))
            except ValueError:
                kind = type(getattr(defaults, name)).__name__
                raise ValueError(f"RPA_{name.upper()}: {kind} expected, not {env!r}") from None
    values.update({k: v for k, v in overrides.items() if v is not None})
    return cls(**values)
