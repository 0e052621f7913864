"""`rpa worker`: RQ jobs of the node run against real Redis and the node's database."""

import os
import subprocess
import sys

import pytest

from tests.support import ROOT


@pytest.mark.redis
def test_worker_runs_a_node_job(tmp_path, redis_url):
    """A job enqueued with the project's defaults is executed by `rpa worker --burst` and succeeds."""
    import redis
    from rq.job import Job

    from common.jobs import enqueue
    from node.jobs import sweep

    env = {
        **os.environ,
        "RPA_REDIS_URL": redis_url,
        "RPA_DATA_DIR": str(tmp_path),
        "RPA_ADMIN_PASSWORD": "x" * 12,
    }
    run = dict(cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert subprocess.run([sys.executable, "-m", "rpa", "db", "upgrade"], **run).returncode == 0
    conn = redis.Redis.from_url(redis_url)
    job = enqueue(conn, sweep)  # with the job's declared policy (queue "periodic")
    done = subprocess.run([sys.executable, "-m", "rpa", "worker", "--burst"], **run)
    assert done.returncode == 0, done.stderr
    job = Job.fetch(job.id, connection=conn)
    assert job.get_status() == "finished", job.exc_info
    assert set(job.return_value()) == {"lost", "timeouts", "queued", "mail"}


def test_worker_refuses_embedded_mode(tmp_path):
    """Without RPA_REDIS_URL the worker explains that embedded mode runs jobs in the node process."""
    env = {k: v for k, v in os.environ.items() if k != "RPA_REDIS_URL"}
    env["RPA_DATA_DIR"] = str(tmp_path)
    out = subprocess.run(
        [sys.executable, "-m", "rpa", "worker"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode != 0 and "RPA_REDIS_URL" in out.stderr
