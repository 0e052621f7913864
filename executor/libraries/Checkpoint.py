"""Robot Framework library: save and load checkpoint values that survive a failover to another attempt.

Usage in a task::

    *** Settings ***
    Library    Checkpoint

    *** Tasks ***
    Import Rows
        ${done}=    Load Checkpoint    rows_done    0
        ...
        Save Checkpoint    rows_done    ${n}

The state lives in ``RPA_CHECKPOINT_FILE`` (JSON, shared with the executor's listener, which also
records completed tasks). Each save tells the executor, which uploads the file to the node (source
``checkpoint``); when the node re-runs an interrupted run, the executor restores it first.
Standard library only, so it works in any package environment.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from typing import Any


class Checkpoint:
    """Keywords ``Save Checkpoint`` and ``Load Checkpoint``."""

    ROBOT_LIBRARY_SCOPE = "GLOBAL"

    def __init__(self) -> None:
        self.path = os.environ.get("RPA_CHECKPOINT_FILE") or os.path.join(
            tempfile.gettempdir(), "rpa-checkpoint.json"
        )
        self.events = os.environ.get("RPA_EVENTS_FILE")

    def _read(self) -> dict:
        try:
            with open(self.path, encoding="utf-8") as fh:
                data = json.load(fh)
            if isinstance(data, dict):
                data.setdefault("values", {})
                data.setdefault("completedTasks", [])
                return data
        except (OSError, ValueError):
            pass
        return {"values": {}, "completedTasks": []}

    def save_checkpoint(self, key: str, value: Any) -> None:
        """Store ``value`` (anything JSON can hold) under ``key`` and have the executor upload it."""
        state = self._read()
        state["values"][str(key)] = value
        directory = os.path.dirname(os.path.abspath(self.path))
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".ckpt-")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(state, fh, ensure_ascii=False, default=str)
        os.replace(tmp, self.path)
        if self.events:
            line = {
                "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "level": 0,
                "text": f"Checkpoint saved: {key}",
                "kind": "checkpoint",
            }
            with open(self.events, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(line, ensure_ascii=False) + "\n")

    def load_checkpoint(self, key: str, default: Any = None) -> Any:
        """The value saved under ``key`` in this run or a previous attempt, else ``default``."""
        return self._read()["values"].get(str(key), default)

    def checkpoint_completed_tasks(self) -> list:
        """Full names of tasks recorded as completed (by this attempt or an earlier one)."""
        return list(self._read()["completedTasks"])
