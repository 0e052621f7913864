"""The runs kernel's parts of one app: the run desk and the log writer (group-commit writers)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

from node.runs.desk import RunDesk
from node.runs.ingest import LogWriter

KEY = "rpa.runs"


@dataclass
class RunsRuntime:
    desk: RunDesk
    logs: LogWriter


def init_app(app: Flask) -> RunsRuntime:
    """Build the writers for ``app``; they write inline until ``start_background`` starts them."""
    cfg = app.extensions["rpa"].config
    parts = RunsRuntime(desk=RunDesk(app, cfg.run_batch_window), logs=LogWriter(app, cfg.log_flush_interval))
    app.extensions[KEY] = parts
    return parts


def runs_runtime() -> RunsRuntime:
    """The runs kernel's parts of the current app."""
    return current_app.extensions[KEY]
