"""The jobs layer: one policy per job, declared periodic jobs run by the ticker, the node's list."""

from __future__ import annotations

import fakeredis
import gevent
import pytest
from flask import Flask, current_app

from common.jobs import PRESETS, PeriodicJob, Ticker, enqueue, job, policy_of

calls: list[str] = []


@job("sync")
def sample_job(batch_id: str) -> str:
    """A job with the sync preset."""
    return batch_id


def plain_function() -> None:
    """Not a job: no policy."""


def test_enqueue_applies_the_jobs_policy():
    """The queue, timeout, TTLs and retries come from the job's preset, not from the caller."""
    redis = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    queued = enqueue(redis, sample_job, "b-1", job_id="sync-b-1")
    policy = PRESETS["sync"]
    assert queued.origin == "sync" and queued.id == "sync-b-1"
    assert queued.timeout == policy.timeout and queued.result_ttl == policy.result_ttl
    assert queued.failure_ttl == policy.failure_ttl
    assert queued.retries_left == policy.retries and queued.retry_intervals == list(policy.retry_intervals)
    assert queued.args == ("b-1",)


def test_overrides_and_unknown_presets():
    """``@job`` overrides one field of a preset; an unknown preset or an undecorated function is an error."""
    assert policy_of(job("default", timeout=7)(plain_function)).timeout == 7
    with pytest.raises(KeyError):
        job("nope")
    with pytest.raises(TypeError):
        policy_of(lambda: None)


def _app() -> Flask:
    app = Flask("ticker-test")
    app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite://"
    from common.db import db

    db.init_app(app)
    return app


def test_the_ticker_runs_exactly_the_declared_jobs_in_the_app_context():
    """Each declared job runs every interval inside the app; a failing round is logged and the next
    round runs; names must be unique."""
    app = _app()
    seen: list[str] = []

    def fast() -> None:
        seen.append(current_app.name)

    def failing() -> None:
        raise RuntimeError("boom")

    ticker = Ticker(app, fakeredis.FakeRedis(server=fakeredis.FakeServer()), prefix="t")
    with pytest.raises(ValueError):
        ticker.start([PeriodicJob("x", fast, 1), PeriodicJob("x", fast, 1)])
    ticker.start([PeriodicJob("fast", fast, 0.02), PeriodicJob("failing", failing, 0.02)])
    gevent.sleep(0.3)
    ticker.stop()
    assert len(seen) >= 5 and set(seen) == {"ticker-test"}
    assert ticker.runs["fast"] >= 5 and ticker.runs["failing"] == 0
    assert ticker.serving_for() > 0
    after = len(seen)
    gevent.sleep(0.1)
    assert len(seen) == after, "a stopped ticker runs nothing"


def test_a_one_scope_job_runs_in_one_process_per_interval():
    """Two tickers sharing Redis (two processes of one node) run a ``one`` job once per interval."""
    app = _app()
    redis = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    seen: list[str] = []
    tickers = [Ticker(app, redis, prefix="n") for _ in range(2)]
    for i, ticker in enumerate(tickers):
        ticker.start([PeriodicJob("once", lambda i=i: seen.append(i), 0.1, scope="one")])
    gevent.sleep(0.55)
    for ticker in tickers:
        ticker.stop()
    assert 3 <= len(seen) <= 6, seen  # ~5 intervals, never two runs of one interval


def test_a_serving_node_runs_its_periodic_jobs(app):
    """``start_background`` starts the node's declared list: presence flush and the sweep tick."""
    from node import drain, start_background
    from node.jobs import periodic_jobs

    names = [j.name for j in periodic_jobs(app.extensions["rpa"].config)]
    assert names == ["presence.flush", "runs.sweep"]
    start_background(app)
    try:
        gevent.sleep(0.7)
        runs = app.extensions["rpa"].ticker.runs
        assert runs["runs.sweep"] >= 2  # every 0.2 s in the test config
    finally:
        drain(app)
