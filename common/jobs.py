"""The jobs layer both tiers use: one policy per job, declared periodic jobs, and the worker.

- **Queued jobs** are module-level functions that take ids, are idempotent and raise on failure;
  durable state lives in SQL, never only in Redis. ``@job("sync")`` gives a function its policy
  (queue, timeout, result TTL, retries) from ``PRESETS``: every job's policy is written in one place,
  and ``enqueue`` applies it.
- **Periodic jobs** are declared as a list of ``PeriodicJob`` by each tier (``node.jobs``) and run by
  the process's ``Ticker``, which starts exactly the declared list (a job dropped from the list is
  gone at the next start; nothing is left scheduled in Redis). ``scope="process"`` runs in every
  serving process (work on that process's memory or sockets: presence, its executors' silence);
  ``scope="one"`` runs in one process per interval, whichever takes the Redis lock first.
- **The worker** (``rpa worker``, production mode) is an RQ ``SimpleWorker`` (no fork per job: ours
  are short) that runs each job inside the tier's app context; the app is the worker's, not a
  module global, so jobs reach it as ``flask.current_app``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from flask import Flask

log = logging.getLogger(__name__)

QUEUES = ("hub", "sync", "default", "periodic")


@dataclass(frozen=True)
class JobPolicy:
    """How a queued job runs: its queue, how long it may take, how long RQ keeps its outcome, and
    how often and after which delays (seconds) a failure is retried."""

    queue: str = "default"
    timeout: int = 300
    result_ttl: int = 3600
    failure_ttl: int = 7 * 86400
    retries: int = 3
    retry_intervals: tuple[int, ...] = (10, 60, 300)


# The one place every job's policy comes from.
PRESETS: dict[str, JobPolicy] = {
    "default": JobPolicy(),
    "hub": JobPolicy(queue="hub", timeout=60, retries=5, retry_intervals=(1, 5, 30)),
    # Sync batches are retried without limit by their outbox sweep; RQ only speeds the first tries.
    "sync": JobPolicy(queue="sync", timeout=120, retries=5, retry_intervals=(5, 30, 120, 600)),
    "periodic": JobPolicy(queue="periodic", timeout=600, result_ttl=600, retries=0, retry_intervals=()),
}


def job(preset: str = "default", **overrides: Any) -> Callable[[Callable], Callable]:
    """Give a job function its policy: ``@job("sync")`` or ``@job("default", timeout=30)``."""
    if preset not in PRESETS:
        raise KeyError(f"unknown job preset {preset!r}; one of {', '.join(PRESETS)}")
    policy = replace(PRESETS[preset], **overrides)

    def deco(fn: Callable) -> Callable:
        fn.job_policy = policy  # type: ignore[attr-defined]
        return fn

    return deco


def policy_of(fn: Callable) -> JobPolicy:
    """The policy ``@job`` gave ``fn`` (a function without one is a programming error)."""
    policy = getattr(fn, "job_policy", None)
    if policy is None:
        raise TypeError(f"{fn.__module__}.{fn.__qualname__} is not a job: decorate it with @job")
    return policy


def enqueue(redis_client: Any, fn: Callable, *args: Any, job_id: str | None = None, **kwargs: Any):
    """Enqueue ``fn(*args, **kwargs)`` with its policy; ``job_id`` makes a repeat a no-op while the
    first is queued (idempotent producers; letters, digits, ``_`` and ``-`` only)."""
    from rq import Queue, Retry

    policy = policy_of(fn)
    retry = Retry(max=policy.retries, interval=list(policy.retry_intervals)) if policy.retries else None
    queue = Queue(policy.queue, connection=redis_client)
    return queue.enqueue(
        fn,
        args=args,
        job_id=job_id,
        job_timeout=policy.timeout,
        result_ttl=policy.result_ttl,
        failure_ttl=policy.failure_ttl,
        retry=retry,
        kwargs=kwargs,
    )


@dataclass(frozen=True)
class PeriodicJob:
    """A job that runs every ``interval`` seconds inside the app context (see the module doc)."""

    name: str
    func: Callable[[], object]
    interval: float
    scope: Literal["process", "one"] = "process"


class Ticker:
    """Runs a tier's declared periodic jobs in this process, one greenlet each."""

    def __init__(self, app: Flask, redis_client: Any, prefix: str) -> None:
        from gevent.event import Event

        self._app = app
        self._redis = redis_client
        self._prefix = prefix
        self._greenlets: dict[str, Any] = {}
        self._stopping = Event()
        self._started = 0.0
        self.runs: dict[str, int] = {}

    def serving_for(self) -> float:
        """Seconds since this process started its periodic jobs (0 when not started)."""
        return time.monotonic() - self._started if self._started else 0.0

    def start(self, jobs: list[PeriodicJob]) -> None:
        """Start exactly the declared ``jobs`` (names must be unique)."""
        names = [j.name for j in jobs]
        if len(names) != len(set(names)):
            raise ValueError(f"periodic job names must be unique: {names}")
        if self._greenlets:
            return
        import gevent

        self._stopping.clear()
        self._started = time.monotonic()
        for periodic in jobs:
            self.runs[periodic.name] = 0
            self._greenlets[periodic.name] = gevent.spawn(self._loop, periodic)
        log.info("Ticker: %s", ", ".join(f"{j.name} every {j.interval:g}s ({j.scope})" for j in jobs))

    def _mine(self, periodic: PeriodicJob) -> bool:
        """Whether this process runs this round of a ``one``-scope job (a lock for the interval)."""
        if periodic.scope == "process":
            return True
        key = f"rpa:periodic:{self._prefix}:{periodic.name}"
        try:
            return bool(self._redis.set(key, 1, nx=True, px=max(int(periodic.interval * 1000), 1)))
        except Exception:  # Redis down: run it; the jobs are idempotent, a second run is harmless
            return True

    def run_once(self, periodic: PeriodicJob) -> None:
        """One round of ``periodic`` in the app context; a failure is logged and retried next round."""
        from common.db import db

        with self._app.app_context():
            try:
                periodic.func()
                self.runs[periodic.name] = self.runs.get(periodic.name, 0) + 1
            except Exception:
                db.session.rollback()
                log.exception("Periodic job %s failed; trying again next round", periodic.name)
            finally:
                db.session.remove()

    def _loop(self, periodic: PeriodicJob) -> None:
        while not self._stopping.wait(periodic.interval):
            if self._mine(periodic):
                self.run_once(periodic)

    def stop(self, timeout: float = 10) -> None:
        """Let every round in progress finish (never killed mid-transaction), then stop."""
        self._stopping.set()
        for greenlet in self._greenlets.values():
            greenlet.join(timeout)
            greenlet.kill(block=False)
        self._greenlets.clear()


def run_worker(app: Flask, redis_client: Any, queues: list[str], *, burst: bool = False) -> None:
    """Work ``queues`` until stopped (or until empty with ``burst``), each job in ``app``'s context."""
    from rq import Queue, SimpleWorker

    class AppWorker(SimpleWorker):
        def execute_job(self, job, queue):  # one job, inside the app (jobs use current_app)
            with app.app_context():
                try:
                    return super().execute_job(job, queue)
                finally:
                    from common.db import db

                    db.session.remove()

    worker = AppWorker([Queue(q, connection=redis_client) for q in queues], connection=redis_client)
    log.info("Worker: listening on %s", ", ".join(queues))
    worker.work(burst=burst, with_scheduler=not burst)
