"""Test support: a real node process on a free port, package builders, protocol clients."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import requests
import simple_websocket

from protocol.secret import build_supplier_secret

ROOT = Path(__file__).resolve().parent.parent
# CI sets CI=true; 1 and yes count too, everywhere the tests ask (a missing service is then a failure).
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
ADMIN_PASSWORD = "admin-test-pass"

# Fast timers for lifecycle tests (seconds).
FAST_ENV = {
    "RPA_HEARTBEAT_INTERVAL": "1",
    "RPA_SWEEP_INTERVAL": "0.2",
    "RPA_DISPATCH_TIMEOUT": "30",
    "RPA_LOG_JSON": "true",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


def package_zip(
    name: str = "hello",
    version: str = "1.0",
    arguments: list | None = None,
    engine: str = "robotframework",
    files: dict[str, str] | None = None,
    **manifest,
) -> bytes:
    """A minimal process package (zip with manifest.json)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(
            "manifest.json",
            json.dumps(
                {
                    "name": name,
                    "version": version,
                    "engine": engine,
                    "entry": "tasks.robot",
                    "arguments": arguments or [],
                    **manifest,
                }
            ),
        )
        zf.writestr("tasks.robot", "*** Tasks ***\nSay Hello\n    Log    hello\n")
        for path, text in (files or {}).items():
            zf.writestr(path, text)
    return buf.getvalue()


class LiveNode:
    """A real ``rpa node run`` process with its own data dir (what executors and operators see)."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, port: int | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.env = {**os.environ, "RPA_ADMIN_PASSWORD": ADMIN_PASSWORD, **FAST_ENV, **(env or {})}
        self.proc: subprocess.Popen | None = None
        self._token: str | None = None
        self.log_path = self.data_dir / "stdout.log"

    def start(self) -> LiveNode:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        out = open(self.log_path, "ab")  # noqa: SIM115 (closed with the process)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "rpa",
                "node",
                "run",
                "--port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        out.close()
        wait_http(self.url + "/healthz", proc=self.proc)
        self._token = None
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        code, self.proc = self.proc.returncode, None
        return code

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self, sig: int = signal.SIGKILL) -> LiveNode:
        self.stop(sig)
        return self.start()

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def token(self) -> str:
        if self._token is None:
            r = requests.post(
                self.url + "/api/v1/auth/token",
                json={"username": "admin", "password": ADMIN_PASSWORD},
                timeout=10,
            )
            r.raise_for_status()
            self._token = r.json()["resultValue"]["token"]
        return self._token

    def api(self, method: str, path: str, **kw) -> requests.Response:
        """Call the management API as admin; ``path`` is under /api/v1 unless absolute."""
        headers = {"Authorization": f"Bearer {self.token}", **kw.pop("headers", {})}
        url = (
            path
            if path.startswith("http")
            else self.url + ("" if path.startswith("/api/") else "/api/v1") + path
        )
        return requests.request(method, url, headers=headers, timeout=kw.pop("timeout", 30), **kw)

    def value(self, method: str, path: str, **kw):
        """``api`` that must succeed; returns ``resultValue``."""
        r = self.api(method, path, **kw)
        assert r.status_code < 300, (r.status_code, r.text)
        return r.json()["resultValue"]

    def add_supplier(self, code: str, engines: list[str] | None = None) -> str:
        return self.value("POST", "/suppliers", json={"code": code, "name": code, "engines": engines})[
            "secret"
        ]

    def upload_app(self, zip_bytes: bytes, name: str) -> str:
        return self.value("POST", "/apps", files={"package": ("p.zip", zip_bytes)}, data={"name": name})[
            "appId"
        ]

    def start_run(self, app_id: str, **body) -> str:
        return self.value("POST", "/runs", json={"appId": app_id, **body})["runInstanceId"]

    def run(self, run_id: str) -> dict:
        return self.value("GET", f"/runs/{run_id}")

    def wait_robot(self, robot_id: str, timeout: float = 10) -> dict:
        """Wait until the robot is registered and online (WebSocket Register has no answer)."""
        deadline = time.monotonic() + timeout
        while True:
            r = self.api("GET", f"/robots/{robot_id}")
            if r.status_code == 200 and r.json()["resultValue"]["online"]:
                return r.json()["resultValue"]
            if time.monotonic() > deadline:
                raise AssertionError(f"robot {robot_id} did not come online: {r.text}")
            time.sleep(0.05)

    def wait_status(self, run_id: str, statuses: set[str] | str, timeout: float = 15) -> dict:
        want = {statuses} if isinstance(statuses, str) else statuses
        deadline = time.monotonic() + timeout
        while True:
            run = self.run(run_id)
            if run["status"] in want:
                return run
            if time.monotonic() > deadline:
                raise AssertionError(f"run {run_id} is {run['status']}, expected {want}")
            time.sleep(0.05)


class WsRobot:
    """A bare protocol client over a real WebSocket (no SDK: tests pin the wire format itself)."""

    def __init__(self, node: LiveNode, robot_id: str, supplier: str, secret: str) -> None:
        self.node, self.robot_id, self.supplier, self.secret = node, robot_id, supplier, secret
        self.ws = simple_websocket.Client(f"{node.ws_url}/robothub/{robot_id}")

    def send(self, action: str, body: dict | str | None = None) -> None:
        frame = {"action": action}
        if body is not None:
            frame["body"] = body if isinstance(body, str) else json.dumps(body)
        self.ws.send(json.dumps(frame))

    def recv(self, timeout: float = 5) -> dict | None:
        text = self.ws.receive(timeout)
        if text is None:
            return None
        frame = json.loads(text)
        if isinstance(frame.get("body"), str):
            frame["body"] = json.loads(frame["body"])
        return frame

    def register(self, version: str = "test-1") -> None:
        self.send(
            "Register",
            {
                "supplierCode": self.supplier,
                "version": version,
                "supplierSecret": build_supplier_secret(self.robot_id, self.supplier, self.secret),
            },
        )

    def heartbeat(self, run_id: str | None = None) -> None:
        self.send("Heartbeat", {"runInstanceId": run_id} if run_id else {})

    def expect(self, action: str, timeout: float = 5) -> dict:
        frame = self.recv(timeout)
        assert frame is not None, f"no {action} frame within {timeout}s"
        assert frame["action"] == action, frame
        return frame

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:
            pass


class HttpRobot:
    """A bare HTTP protocol client."""

    def __init__(self, node: LiveNode, robot_id: str, supplier: str, secret: str) -> None:
        self.node, self.robot_id, self.supplier, self.secret = node, robot_id, supplier, secret
        self.connect_id: str | None = None
        self.http = requests.Session()

    def headers(self) -> dict:
        h = {"robotId": self.robot_id}
        if self.connect_id:
            h["robotConnectId"] = self.connect_id
        return h

    def post(self, action: str, body=None, headers: dict | None = None, **kw) -> requests.Response:
        return self.http.post(
            f"{self.node.url}/robots/connect/{action}",
            json=body,
            headers={**self.headers(), **(headers or {})},
            timeout=40,
            **kw,
        )

    def register(self) -> dict:
        r = self.post(
            "register",
            {
                "supplierCode": self.supplier,
                "supplierSecret": build_supplier_secret(self.robot_id, self.supplier, self.secret),
            },
        )
        assert r.status_code == 200, r.text
        value = r.json()["resultValue"]
        self.connect_id = value["robotConnectId"]
        return value

    def heartbeat(self, run_id: str | None = None, wait: float = 0) -> dict:
        headers = {"X-Wait-Seconds": str(wait)} if wait else {}
        r = self.post("heartbeat", {"runInstanceId": run_id} if run_id else {}, headers=headers)
        assert r.status_code == 200, r.text
        return r.json()["resultValue"]


def log_lines(n: int, prefix: str = "line", start: int = 0) -> list[dict]:
    return [
        {"content": f"{prefix} {i}", "logAt": f"2026-11-28T10:00:00.{i:06d}+08:00", "logLevel": i % 3}
        for i in range(start, start + n)
    ]


def seeded(node: LiveNode, **package) -> tuple[LiveNode, str, str]:
    """A node with supplier ``acme`` and app ``hello``: (node, supplier secret, app id)."""
    secret = node.add_supplier("acme")
    return node, secret, node.upload_app(package_zip(**package), "hello")


def connect_ws(node: LiveNode, robot_id: str, secret: str, supplier: str = "acme") -> WsRobot:
    """A registered WebSocket robot that has sent its first heartbeat."""
    robot = WsRobot(node, robot_id, supplier, secret)
    robot.register()
    robot.heartbeat()
    node.wait_robot(robot_id)
    return robot
