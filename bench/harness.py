"""Shared pieces of the benchmarks: the processes under test (node, baselines), the management API, worker
IPC between a benchmark's controller and its load generators.

The benchmarks use one namespace (``import harness as h``): this module re-exports the protocol side
(``wire.py``: frames, probe, ``RawWs``, ``HttpPool``) and the measurements (``measure.py``: percentiles,
/proc, py-spy). Nothing here is imported by the node; the benchmarks run as scripts
(``python bench/<name>.py``).
"""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from measure import (
    cpu_seconds,
    ms,
    pct,
    ratio,
    rss_kib,
    sql_counts,
    sqlite_count,
    start_pyspy,
    tree_cpu_seconds,
    tree_pids,
    tree_rss_kib,
)
from wire import (
    CLOCK,
    PROBE,
    PROBE_MARK,
    HttpPool,
    RawWs,
    clocked,
    frame,
    is_probe_reply,
    log_lines,
    logs_frame,
    register_frame,
)

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PYTHON = str(ROOT / ".venv" / "bin" / "python")
RPA = str(ROOT / ".venv" / "bin" / "rpa")
ADMIN_PASSWORD = "bench-admin-pass"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

__all__ = [
    "ADMIN_PASSWORD",
    "BENCH",
    "PROBE",
    "PROBE_MARK",
    "PYTHON",
    "ROOT",
    "RPA",
    "Api",
    "HttpPool",
    "RawWs",
    "Server",
    "Worker",
    "cpu_seconds",
    "diag_env",
    "frame",
    "free_port",
    "is_probe_reply",
    "CLOCK",
    "clocked",
    "log_lines",
    "logs_frame",
    "ms",
    "node_fixture",
    "pct",
    "pg_create_database",
    "pg_drop_database",
    "raise_nofile",
    "ratio",
    "register_frame",
    "rss_kib",
    "sql_counts",
    "sqlite_count",
    "start_baseline",
    "start_node",
    "start_pyspy",
    "tree_cpu_seconds",
    "tree_pids",
    "tree_rss_kib",
    "wait_http",
    "worker_channel",
]


# --- limits, ports ----------------------------------------------------------------------------------
def raise_nofile(want: int | None = None) -> int:
    """Raise the soft open-files limit (to the hard limit by default); return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if want is None else min(want, hard)
    if hard == resource.RLIM_INFINITY:
        target = want or 65536
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- processes under test -----------------------------------------------------------------------------
def wait_http(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


class Server:
    """A server process on 127.0.0.1 (the node or a baseline), with its log in a file.

    ``tree`` (set by subclasses such as the gunicorn node of ``production.py``): CPU and RSS are those of
    the whole process tree, not only of ``pid``.
    """

    tree = False

    def __init__(self, argv: list[str], port: int, env: dict | None = None, log: Path | None = None) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log or Path(tempfile.mkstemp(prefix="bench-server-", suffix=".log")[1])
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                argv, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT
            )
        wait_http(self.url + "/healthz", self.proc)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_mib(self) -> float:
        """VmRSS in MiB (summed over the process tree when ``tree``)."""
        return (tree_rss_kib if self.tree else rss_kib)(self.pid) / 1024

    def cpu_seconds(self) -> float:
        """CPU seconds used so far (of the process tree when ``tree``)."""
        return (tree_cpu_seconds if self.tree else cpu_seconds)(self.pid)

    def usage(self, cpu0: float, elapsed: float, runs: int) -> tuple[float, str]:
        """CPU used since ``cpu0`` (from ``cpu_seconds()``) over ``elapsed`` s, in cores, and a printable
        "CPU in % of one core, CPU ms per run, RSS"."""
        cpu_s = self.cpu_seconds() - cpu0
        return cpu_s / elapsed, (
            f"server CPU {cpu_s / elapsed * 100:.0f}% of a core, {cpu_s * 1000 / max(1, runs):.2f} ms/run"
            f" | RSS {self.rss_mib():.0f} MiB"
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def start_node(data_dir: Path, port: int | None = None, env: dict | None = None) -> Server:
    """``rpa node run`` in embedded mode (or with RPA_DATABASE_URL / RPA_REDIS_URL from ``env``)."""
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    node_env = {
        "RPA_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "RPA_LOG_LEVEL": "WARNING",
        "PYTHONFAULTHANDLER": "1",
        **(env or {}),
    }
    argv = [RPA, "node", "run", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir)]
    return Server(argv, port, node_env, data_dir / "node-stdout.log")


def start_baseline(mode: str, workdir: Path, *args: str) -> Server:
    """``bench/baselines.py <mode>`` serving on a free port."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    argv = [PYTHON, str(BENCH / "baselines.py"), mode, "--port", str(port), "--workdir", str(workdir), *args]
    return Server(argv, port, None, workdir / f"baseline-{mode}.log")


class Api:
    """The management API as admin (blocking requests; used by the controller, not in hot loops)."""

    def __init__(self, url: str, password: str = ADMIN_PASSWORD) -> None:
        import requests

        self.url = url
        self.http = requests.Session()
        r = self.http.post(
            f"{url}/api/v1/auth/token", json={"username": "admin", "password": password}, timeout=30
        )
        r.raise_for_status()
        self.token = r.json()["resultValue"]["token"]
        self.http.headers["Authorization"] = f"Bearer {self.token}"

    def value(self, method: str, path: str, **kw):
        r = self.http.request(method, f"{self.url}/api/v1{path}", timeout=60, **kw)
        if r.status_code >= 300:
            raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:300]}")
        return r.json()["resultValue"]

    def add_supplier(self, code: str) -> str:
        return self.value("POST", "/suppliers", json={"code": code, "name": code})["secret"]

    def upload_app(self, name: str) -> str:
        from tests.support import package_zip

        files = {"package": ("p.zip", package_zip(name=name))}
        return self.value("POST", "/apps", files=files, data={"name": name})["appId"]


def node_fixture(api: Api, tag: str) -> dict:
    """Supplier + app for a benchmark: what robots need to register and what runs are started from."""
    code = f"bench-{tag}"
    return {"supplier": code, "secret": api.add_supplier(code), "app": api.upload_app(f"bench-{tag}")}


# --- PostgreSQL databases ---------------------------------------------------------------------------------
def pg_create_database(url: str, name: str) -> str:
    """Create database ``name`` on the server of ``url``; return the URL pointing at it."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    u = make_url(url)
    engine = create_engine(u, isolation_level="AUTOCOMMIT")
    with engine.connect() as con:
        con.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        con.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()
    return u.set(database=name).render_as_string(hide_password=False)


def pg_drop_database(url: str, name: str) -> None:
    """Drop database ``name`` on the server of ``url`` (closing its sessions: PostgreSQL 13+)."""
    from sqlalchemy import create_engine

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as con:
        con.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    engine.dispose()


# --- controller <-> worker processes (JSON lines over stdin/stdout) --------------------------------
class Worker:
    """A load-generating process started from the same script with ``--worker``; one JSON line per call."""

    def __init__(self, script: Path, config: dict) -> None:
        self.proc = subprocess.Popen(
            [PYTHON, str(script), "--worker", json.dumps(config)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )

    def send(self, **cmd) -> None:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()

    def recv(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker exited ({self.proc.poll()})")
        return json.loads(line)

    def call(self, **cmd) -> dict:
        self.send(**cmd)
        return self.recv()

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(30)
        except Exception:
            self.proc.kill()


def worker_channel():
    """(read_command, reply) for a gevent worker process: cooperative stdin, line-buffered stdout."""
    from gevent.fileobject import FileObjectPosix

    stdin = FileObjectPosix(sys.stdin.fileno(), "rb", close=False)

    def read_command() -> dict | None:
        line = stdin.readline()
        return json.loads(line) if line else None

    def reply(obj: dict) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    return read_command, reply


def diag_env(gc_log: Path | None = None, sql_log: Path | None = None) -> dict:
    """Environment that loads bench/diag/sitecustomize.py into the node (observes only)."""
    env: dict[str, str] = {}
    if gc_log or sql_log:
        env["PYTHONPATH"] = str(BENCH / "diag")
    if gc_log:
        env["BENCH_GC_LOG"] = str(gc_log)
    if sql_log:
        env["BENCH_SQL_LOG"] = str(sql_log)
    return env
