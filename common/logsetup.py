"""Structured logging: one JSON event per line (run and robot ids as fields) to stdout and a rotating
file in the data dir.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
from pathlib import Path

from common.timeutil import iso, utcnow

_ENTITY_FIELDS = {"Run %s": "run_id", "Robot %s": "robot_id", "App %s": "app_id", "Supplier %s": "supplier"}


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", "run_id"?, "robot_id"?, ...}`` per line."""

    def format(self, record: logging.LogRecord) -> str:
        event = {
            "ts": iso(utcnow()),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        msg = record.msg if isinstance(record.msg, str) else ""
        for prefix, key in _ENTITY_FIELDS.items():
            if msg.startswith(prefix) and record.args:
                event[key] = record.args[0] if isinstance(record.args, tuple) else None
        for key in ("run_id", "robot_id", "job_id"):
            if hasattr(record, key):
                event[key] = getattr(record, key)
        if record.exc_info:
            event["exc"] = self.formatException(record.exc_info)
        return json.dumps(event, ensure_ascii=False, default=str)


def configure(
    level: str = "INFO", log_dir: str | Path | None = None, json_lines: bool = True, name: str = "node"
) -> None:
    """Configure the root logger once per process (the CLI calls this; the factory does not)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_rpa", False):
            root.removeHandler(handler)
    fmt: logging.Formatter = (
        JsonFormatter()
        if json_lines
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stdout)]
    if log_dir:
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        handlers.append(
            logging.handlers.RotatingFileHandler(
                Path(log_dir) / f"{name}.log", maxBytes=50 * 2**20, backupCount=10, encoding="utf-8"
            )
        )
    for handler in handlers:
        handler.setFormatter(fmt)
        handler._rpa = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("werkzeug").setLevel("WARNING")
