"""RQ jobs of the node and the worker that runs them (production mode).

Jobs take ids, are idempotent and raise on failure; durable state lives in SQL, never only in Redis.
"""

from __future__ import annotations

import logging
from functools import partial

from flask import Flask

log = logging.getLogger(__name__)

QUEUES = ("hub", "sync", "default", "periodic")
# One place for every job's queue, timeout and result TTL.
JOB_DEFAULTS = {"job_timeout": 300, "result_ttl": 3600, "failure_ttl": 7 * 86400}

_APP: Flask | None = None


def _app() -> Flask:
    if _APP is None:
        raise RuntimeError("node jobs run inside `rpa worker`, which binds the app")
    return _APP


def sweep() -> dict[str, int]:
    """One lifecycle sweep (timeouts, queue, lost mail); safe to run anywhere, any number of times.

    Lost robots are left to the serving processes' sweepers: only a process that executors can
    reach knows whether their silence means anything."""
    from common.db import db
    from node.schedule.sweeper import sweep_once

    with _app().app_context():
        try:
            return sweep_once(lost_robots=False)
        finally:
            db.session.remove()


def enqueue(app: Flask, func, *args, queue: str = "default", **kwargs):  # noqa: ANN001, ANN201
    """Enqueue ``func`` on ``queue`` with the project's job defaults."""
    from rq import Queue

    rt = app.extensions["rpa"]
    q = Queue(queue, connection=rt.redis)
    return q.enqueue(func, *args, **{**JOB_DEFAULTS, **kwargs})


enqueue_periodic = partial(enqueue, queue="periodic")


def run_worker(app: Flask, queues: list[str], *, burst: bool = False) -> None:
    """Run a SimpleWorker (no fork per job: our jobs are short) bound to ``app``."""
    from rq import Queue, SimpleWorker

    global _APP
    _APP = app
    rt = app.extensions["rpa"]
    worker = SimpleWorker([Queue(q, connection=rt.redis) for q in queues], connection=rt.redis)
    log.info("Worker: listening on %s", ", ".join(queues))
    worker.work(burst=burst, with_scheduler=not burst)
