"""Fixtures for executor tests: a fake node speaking the protocol over real sockets, and a real
executor process attached to it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.executor.fake_node import FakeNode

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake_node():
    """A fake node serving on a free local port, supplier ``ACME`` with secret ``s3cret``."""
    node = FakeNode().start()
    yield node
    node.stop_server()


class ExecutorProcess:
    """A running ``python -m executor.cli`` whose log is kept in a file."""

    def __init__(self, proc: subprocess.Popen, log_path: Path, work_dir: Path) -> None:
        self.proc = proc
        self.log_path = log_path
        self.work_dir = work_dir

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def terminate(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture
def start_executor(tmp_path):
    """Start a real executor process: ``start_executor(node_url, robot_id, protocol="ws", **settings)``."""
    started: list[ExecutorProcess] = []

    def start(node_url: str, robot_id: str = "robot-1", protocol: str = "ws", **settings) -> ExecutorProcess:
        work = tmp_path / f"work-{robot_id}"
        config = tmp_path / f"{robot_id}.toml"
        lines = [
            f"{k} = {v!r}" if not isinstance(v, bool) else f"{k} = {str(v).lower()}"
            for k, v in settings.items()
        ]
        config.write_text(
            textwrap.dedent(
                "\n".join(["[executor]", "heartbeat_interval = 1.0", "backoff_max = 2.0", *lines])
            )
        )
        log_path = tmp_path / f"{robot_id}.log"
        env = {"RPA_EXECUTOR_SECRET": "s3cret", **os.environ, "PYTHONPATH": str(ROOT)}
        cmd = [
            sys.executable,
            "-m",
            "executor.cli",
            "--node",
            node_url,
            "--id",
            robot_id,
            "--supplier",
            "ACME",
        ]
        cmd += ["--protocol", protocol, "--config", str(config), "--work-dir", str(work)]
        with open(log_path, "wb") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
        ex = ExecutorProcess(proc, log_path, work)
        started.append(ex)
        return ex

    yield start
    for ex in started:
        ex.terminate()


@pytest.fixture
def live_node(tmp_path):
    """A real node whose lost-executor rule is relaxed to 9 s: the robot processes these tests start
    compete for two cores, and a 3 s silence under load is not what these tests are about."""
    from tests.support import LiveNode

    node = LiveNode(tmp_path / "node", env={"RPA_HEARTBEAT_INTERVAL": "3"}).start()
    yield node
    node.stop()
