"""Production mode: PostgreSQL + Redis, gunicorn with 2 gevent workers. A run started on one worker
reaches an executor connected to the other (the command bus), and the schema migrates on PostgreSQL.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.support import ADMIN_PASSWORD, FAST_ENV, ROOT, WsRobot, free_port, package_zip, wait_http


class Gunicorn:
    """A real gunicorn serving ``node.wsgi:app`` with the production settings in ``deploy/``."""

    def __init__(self, data_dir: Path, database_url: str, redis_url: str, workers: int = 2) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        self.env = {
            **os.environ,
            **FAST_ENV,
            "RPA_DATA_DIR": str(data_dir),
            "RPA_DATABASE_URL": database_url,
            "RPA_REDIS_URL": redis_url,
            "RPA_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "RPA_BIND": f"127.0.0.1:{self.port}",
            "RPA_WORKERS": str(workers),
            "RPA_SECRET_KEY": "test-secret-key-shared-by-all-workers",
            "RPA_DEBUG_HEADERS": "true",  # X-RPA-Process says which worker answered
        }
        upgrade = subprocess.run(
            [sys.executable, "-m", "rpa", "db", "upgrade"],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert upgrade.returncode == 0, upgrade.stderr
        with open(data_dir / "gunicorn.out", "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "node.wsgi:app"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_http(self.url + "/healthz", proc=self.proc)
        self.token = requests.post(
            self.url + "/api/v1/auth/token",
            json={"username": "admin", "password": ADMIN_PASSWORD},
            timeout=10,
        ).json()["resultValue"]["token"]

    def api(self, method: str, path: str, **kw) -> requests.Response:
        # A fresh connection per call, so calls spread over the workers.
        return requests.request(
            method,
            self.url + "/api/v1" + path,
            timeout=30,
            headers={"Authorization": f"Bearer {self.token}", "Connection": "close"},
            **kw,
        )

    def seed(self) -> tuple[str, str]:
        """Supplier ``acme`` and app ``hello``: (supplier secret, app id)."""
        secret = self.api("POST", "/suppliers", json={"code": "acme"}).json()["resultValue"]["secret"]
        app = self.api("POST", "/apps", files={"package": ("p.zip", package_zip())}, data={"name": "hello"})
        return secret, app.json()["resultValue"]["appId"]

    def robot_process(self, robot_id: str) -> str | None:
        """Which worker holds a robot's WebSocket (from the workers' structured logs)."""
        for path in (self.data_dir / "logs").glob("node-*.log"):
            for line in path.read_text().splitlines():
                event = json.loads(line)
                if event.get("robot_id") == robot_id and "registered over ws" in event.get("msg", ""):
                    return path.stem.removeprefix("node-")
        return None

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(40)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.mark.postgres
@pytest.mark.redis
def test_run_started_on_one_worker_reaches_robot_on_another(tmp_path, postgres_url, redis_url):
    """Runs started through either worker reach executors on either worker; at least one crossing is seen."""
    node = Gunicorn(tmp_path, postgres_url, redis_url)
    try:
        secret, app_id = node.seed()
        robots = []
        for i in range(6):
            robot = WsRobot(node, f"pg-bot-{i}", "acme", secret)
            robot.register()
            robot.heartbeat()
            robots.append(robot)
        time.sleep(0.5)
        holders = {r.robot_id: node.robot_process(r.robot_id) for r in robots}
        assert all(holders.values()), holders
        crossings = 0
        for round_ in range(5):
            for robot in robots:
                resp = node.api("POST", "/runs", json={"appId": app_id, "robotId": robot.robot_id})
                assert resp.status_code == 201, resp.text
                run_id = resp.json()["resultValue"]["runInstanceId"]
                api_pid = resp.headers["X-RPA-Process"].rsplit(":", 1)[1]
                crossings += api_pid != holders[robot.robot_id]
                execute = robot.expect("Execute", timeout=5)["body"]
                assert execute["runInstanceId"] == run_id
                robot.send("ReportFinish", {"runInstanceId": run_id, "status": 0})
            if crossings and round_ >= 1:
                break
        assert crossings > 0, f"every call landed on the robot's own worker: {holders}"
        started = node.api("GET", "/runs?limit=1000").json()["resultValue"]["total"]
        deadline = time.monotonic() + 10
        while node.api("GET", "/runs?status=succeeded&limit=1").json()["resultValue"]["total"] < started:
            assert time.monotonic() < deadline, "not every ReportFinish was applied"
            time.sleep(0.1)
    finally:
        for robot in locals().get("robots", []):
            robot.close()
        node.stop()


@pytest.mark.postgres
@pytest.mark.redis
def test_http_long_poll_is_woken_across_workers(tmp_path, postgres_url, redis_url):
    """An HTTP executor long-polling on one worker is woken by a run started on any worker."""
    from tests.support import HttpRobot

    node = Gunicorn(tmp_path, postgres_url, redis_url)
    try:
        secret, app_id = node.seed()
        robot = HttpRobot(node, "pg-http", "acme", secret)
        robot.register()
        import threading

        got = {}
        for _ in range(4):
            t = threading.Thread(target=lambda: got.update(cmd=robot.heartbeat(wait=10)))
            t.start()
            time.sleep(0.3)
            t0 = time.monotonic()
            run_id = node.api("POST", "/runs", json={"appId": app_id}).json()["resultValue"]["runInstanceId"]
            t.join(12)
            assert got["cmd"]["Action"] == "Execute" and got["cmd"]["Body"]["runInstanceId"] == run_id
            assert time.monotonic() - t0 < 2
            robot.post("reportFinish", {"runInstanceId": run_id, "status": 0})
    finally:
        node.stop()


@pytest.mark.postgres
@pytest.mark.redis
def test_logs_reach_postgresql_verbatim(tmp_path, postgres_url, redis_url):
    """Log lines go to PostgreSQL by COPY: tricky content comes back exactly, times in order."""
    from tests.support import log_lines

    node = Gunicorn(tmp_path, postgres_url, redis_url, workers=1)
    try:
        secret, app_id = node.seed()
        robot = WsRobot(node, "pg-logs", "acme", secret)
        robot.register()
        robot.heartbeat()
        deadline = time.monotonic() + 10
        while (
            resp := node.api("POST", "/runs", json={"appId": app_id, "robotId": "pg-logs"})
        ).status_code != 201:
            assert time.monotonic() < deadline, resp.text  # the robot's Register is still on its way
            time.sleep(0.1)
        run_id = resp.json()["resultValue"]["runInstanceId"]
        robot.expect("Execute")
        tricky = [
            "tab\there",
            "back\\slash",
            "new\nline",
            "    indented  ",
            "中文 ✓ 🤖",
            "nul\x00byte",
            "\\N",
            "",
        ]
        lines = [
            {"content": c, "logAt": f"2026-11-28T09:00:0{i}+08:00", "logLevel": i % 3}
            for i, c in enumerate(tricky)
        ]
        robot.send("ReportLogs", {"runInstanceId": run_id, "logs": lines})
        robot.send("ReportLogs", {"runInstanceId": run_id, "logs": log_lines(1000, "bulk")})
        deadline = time.monotonic() + 10
        while True:
            got = node.api("GET", f"/runs/{run_id}/logs?limit=1000").json()["resultValue"]
            if got["total"] == 1008 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert got["total"] == 1008
        first = got["items"][: len(tricky)]
        assert [x["content"] for x in first] == [c.replace("\x00", "\ufffd") for c in tricky]
        assert first[0]["logAt"] == "2026-11-28T01:00:00Z"
        robot.close()
    finally:
        node.stop()
