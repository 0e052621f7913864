"""Production mode of the benchmarks: the node served by gunicorn (``deploy/gunicorn.conf.py``, gevent
workers) on PostgreSQL + Redis, started the way ``tests/production/test_scale_out.py`` starts it:
``rpa db upgrade`` first, then ``python -m gunicorn -c deploy/gunicorn.conf.py node.wsgi:app`` with the
settings in ``RPA_*`` variables (one secret key shared by all workers).

Each start gets a fresh database (created on the given PostgreSQL server, dropped again at ``stop()``)
and an emptied Redis database (FLUSHDB). CPU and RSS are those of the whole tree (master + workers).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import harness as h

SECRET_KEY = "bench-secret-key-shared-by-all-workers"


def redis_flush(url: str) -> None:
    """FLUSHDB the Redis database ``url`` points at."""
    import redis

    conn = redis.Redis.from_url(url)
    try:
        conn.flushdb()
    finally:
        conn.close()


class GunicornNode(h.Server):
    """``node.wsgi:app`` under gunicorn with ``workers`` gevent workers, on a new database ``db_name`` of
    the PostgreSQL server ``database_url`` and the (flushed) Redis database ``redis_url``."""

    tree = True

    def __init__(
        self,
        data_dir: Path,
        database_url: str,
        redis_url: str,
        workers: int = 2,
        db_name: str | None = None,
        env: dict | None = None,
    ) -> None:
        self.server_url = database_url
        self.db_name = db_name or f"bench_prod_{os.getpid()}"
        self.workers = workers
        self.proc = None
        data_dir.mkdir(parents=True, exist_ok=True)
        port = h.free_port()
        try:
            db_url = h.pg_create_database(database_url, self.db_name)
            redis_flush(redis_url)
            node_env = {
                "RPA_DATA_DIR": str(data_dir),
                "RPA_DATABASE_URL": db_url,
                "RPA_REDIS_URL": redis_url,
                "RPA_ADMIN_PASSWORD": h.ADMIN_PASSWORD,
                "RPA_BIND": f"127.0.0.1:{port}",
                "RPA_WORKERS": str(workers),
                "RPA_SECRET_KEY": SECRET_KEY,
                "RPA_DEBUG_HEADERS": "true",  # X-RPA-Process: the sockets per worker are printed
                "RPA_LOG_LEVEL": "WARNING",
                "PYTHONFAULTHANDLER": "1",
                **(env or {}),
            }
            upgrade = subprocess.run(
                [h.PYTHON, "-m", "rpa", "db", "upgrade"],
                cwd=h.ROOT,
                env={**os.environ, **node_env},
                capture_output=True,
                text=True,
                timeout=120,
            )
            if upgrade.returncode != 0:
                raise RuntimeError(f"rpa db upgrade failed: {upgrade.stderr[-2000:]}")
            argv = [h.PYTHON, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "node.wsgi:app"]
            super().__init__(argv, port, node_env, data_dir / "gunicorn.out")
            self._wait_workers()
        except BaseException:
            self.stop()
            raise

    def _wait_workers(self, timeout: float = 60.0) -> None:
        """Return once every worker has answered /healthz (new connection each time: the kernel hands
        them to either worker), so executors and API connections can land on all of them."""
        import requests

        seen: set[str] = set()
        deadline = time.monotonic() + timeout
        while len(seen) < self.workers:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {len(seen)} of {self.workers} gunicorn workers answered")
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}; see {self.log}")
            try:
                r = requests.get(self.url + "/healthz", headers={"Connection": "close"}, timeout=2)
                seen.add(r.headers.get("X-RPA-Process", ""))
            except requests.RequestException:
                pass
            time.sleep(0.02)

    def worker_pids(self) -> list[int]:
        """The live processes under the gunicorn master."""
        return h.tree_pids(self.pid)[1:]

    def sockets_per_worker(self) -> dict[int, int]:
        """Open sockets of each worker (executors, API connections, database and Redis connections)."""
        counts = {}
        for pid in self.worker_pids():
            try:
                fds = os.listdir(f"/proc/{pid}/fd")
            except OSError:
                continue
            n = 0
            for fd in fds:
                try:
                    n += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
                except OSError:
                    pass
            counts[pid] = n
        return counts

    def stop(self) -> None:
        """SIGTERM the master (workers drain), SIGKILL whatever of the tree is left, drop the database."""
        try:
            if self.proc is not None:
                left = self.worker_pids()
                super().stop()
                for pid in left:
                    try:
                        with open(f"/proc/{pid}/cmdline", "rb") as fh:
                            if b"gunicorn" in fh.read():
                                os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
        finally:
            h.pg_drop_database(self.server_url, self.db_name)
