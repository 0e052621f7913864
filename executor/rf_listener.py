"""Robot Framework listener (API v3) that streams a run's events to the executor.

Loaded by file path (``--listener /path/rf_listener.py:EVENTS_FILE``) so it works in any
environment: it uses the standard library only. It appends one JSON object per line to
``EVENTS_FILE``; the executor tails that file and sends the lines as ReportLogs batches.

Event lines: ``{"at": ISO time, "level": 0|1|2, "text": str, "screenshot": path?}`` for logs and
``{"kind": "checkpoint"}`` when the checkpoint file changed.

It also keeps the checkpoint's list of completed tasks (``RPA_CHECKPOINT_FILE``): a task that passed
is recorded, and on a resumed attempt a task recorded as completed is skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROBOT_LISTENER_API_VERSION = 3

INFO, WARNING, ERROR = 0, 1, 2
LEVELS = {"INFO": INFO, "WARN": WARNING, "ERROR": ERROR, "FAIL": ERROR, "SKIP": WARNING}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def read_checkpoint(path: str | None) -> dict:
    """The checkpoint state ``{"values": {}, "completedTasks": []}`` (empty if missing or bad)."""
    state: dict = {"values": {}, "completedTasks": []}
    if path and os.path.exists(path):
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
            if isinstance(data, dict):
                state["values"] = dict(data.get("values") or {})
                state["completedTasks"] = list(data.get("completedTasks") or [])
        except (OSError, ValueError):
            pass
    return state


def write_checkpoint(path: str, state: dict) -> None:
    """Replace the checkpoint file atomically."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".ckpt-")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(state, fh, ensure_ascii=False)
    os.replace(tmp, path)


def take_screenshot(dest: Path) -> Path | None:
    """Grab the screen of ``$DISPLAY`` (X11) or the desktop (Windows) into a PNG; None if impossible."""
    ffmpeg = shutil.which("ffmpeg")
    if sys.platform == "win32":
        source = ["-f", "gdigrab", "-i", "desktop"]
    elif os.environ.get("DISPLAY"):
        source = ["-f", "x11grab", "-i", os.environ["DISPLAY"]]
        if not ffmpeg and shutil.which("import"):  # ImageMagick
            cmd = ["import", "-display", os.environ["DISPLAY"], "-window", "root", str(dest)]
            ok = subprocess.run(cmd, capture_output=True, timeout=15, check=False).returncode == 0
            return dest if ok and dest.exists() else None
    else:
        return None
    if not ffmpeg:
        return None
    cmd = [ffmpeg, "-loglevel", "error", "-y", *source, "-frames:v", "1", str(dest)]
    try:
        ok = subprocess.run(cmd, capture_output=True, timeout=15, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return None
    return dest if ok and dest.exists() else None


class rf_listener:  # Robot Framework finds a listener class named like its module
    """Listener v3. Arguments: events file, keyword depth to report (default 2)."""

    ROBOT_LISTENER_API_VERSION = 3

    def __init__(self, events_file: str, keyword_depth: str = "2") -> None:
        self.events_path = events_file
        self.events = open(events_file, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - lives with the run
        self.keyword_depth = int(keyword_depth)
        self.depth = 0
        self.checkpoint_file = os.environ.get("RPA_CHECKPOINT_FILE")
        self.screenshot_dir = Path(os.environ.get("RPA_OUTPUT_DIR") or tempfile.gettempdir())
        self.screenshot_taken = False
        self.skipped: set[str] = set()
        self.shots = 0

    # -- output --------------------------------------------------------------------------------
    def emit(self, text: str, level: int = INFO, screenshot: str | None = None, **extra: object) -> None:
        event: dict = {"at": _now(), "level": level, "text": text, **extra}
        if screenshot:
            event["screenshot"] = screenshot
        self.events.write(json.dumps(event, ensure_ascii=False) + "\n")

    # -- suites and tasks ----------------------------------------------------------------------
    def start_suite(self, data, result) -> None:
        self.emit(f"Suite started: {data.name}")
        completed = set(read_checkpoint(self.checkpoint_file)["completedTasks"])
        if not completed:
            return
        for test in data.tests:
            if test.full_name in completed:
                # Resumed attempt: this task passed before; run only a Skip in its place.
                test.setup.config(name=None)
                test.teardown.config(name=None)
                test.body.clear()
                test.body.create_keyword("Skip", args=["Completed in a previous attempt (checkpoint)"])
                self.skipped.add(test.full_name)

    def end_suite(self, data, result) -> None:
        level = ERROR if result.failed else INFO
        self.emit(f"Suite ended: {data.name} {result.status} ({result.statistics.message})", level)

    def start_test(self, data, result) -> None:
        self.screenshot_taken = False
        self.emit(f"Task started: {data.name}")

    def end_test(self, data, result) -> None:
        level = {"PASS": INFO, "SKIP": WARNING}.get(result.status, ERROR)
        message = f": {result.message}" if result.message else ""
        self.emit(f"Task ended: {data.name} {result.status}{message}", level)
        if result.passed and self.checkpoint_file and data.full_name not in self.skipped:
            state = read_checkpoint(self.checkpoint_file)
            if data.full_name not in state["completedTasks"]:
                state["completedTasks"].append(data.full_name)
                write_checkpoint(self.checkpoint_file, state)
                self.emit(f"Checkpoint: task {data.name} completed", kind="checkpoint")

    # -- keywords ------------------------------------------------------------------------------
    def start_keyword(self, data, result) -> None:
        self.depth += 1
        if self.depth <= self.keyword_depth and not result.not_run:
            args = "  ".join(str(a) for a in data.args)
            self.emit(f"{'  ' * (self.depth - 1)}Keyword: {result.full_name}  {args}".rstrip())

    def end_keyword(self, data, result) -> None:
        self.depth -= 1
        if result.status != "FAIL":
            return
        shot = None
        if not self.screenshot_taken:  # the innermost failing keyword; its parents fail after it
            self.screenshot_taken = True
            self.shots += 1
            path = self.screenshot_dir / f"failure-{self.shots:03d}-{int(time.time())}.png"
            taken = take_screenshot(path)
            shot = str(taken) if taken else None
            self.emit(f"Keyword failed: {result.full_name}: {result.message}", ERROR, shot)

    def log_message(self, message) -> None:
        level = LEVELS.get(message.level)
        if level is None:  # DEBUG/TRACE: keep them in the output files only
            return
        self.emit(message.message, level)

    def close(self) -> None:
        self.events.close()
