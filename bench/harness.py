"""Shared pieces of the benchmarks: processes under test, a lean WebSocket client, worker IPC, statistics.

Nothing here is imported by the node; the benchmarks run as scripts (``python bench/<name>.py``).
"""

from __future__ import annotations

import base64
import json
import os
import resource
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PYTHON = str(ROOT / ".venv" / "bin" / "python")
RPA = str(ROOT / ".venv" / "bin" / "rpa")
ADMIN_PASSWORD = "bench-admin-pass"
PROBE = b'{"action":"BenchProbe"}'  # unknown action: the node answers Error 10001 after earlier frames
PROBE_MARK = "BenchProbe"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# --- limits, ports, statistics ----------------------------------------------------------------------
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


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(q / 100 * len(ordered) + 0.5)) - 1))
    return ordered[k]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def ratio(ours: float, base: float) -> str:
    if not base or base != base or ours != ours:
        return "n/a"
    return f"{ours / base:.2f}"


def rss_kib(pid: int) -> int:
    """VmRSS of a process in KiB (0 if gone)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def sqlite_count(path: Path, table: str = "run_instance_log") -> int:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        con.close()


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
    """A server process on 127.0.0.1 (the node or a baseline), with its log in a file."""

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
        return rss_kib(self.pid) / 1024

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

    def value(self, method: str, path: str, **kw):  # noqa: ANN201
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


# --- frames ------------------------------------------------------------------------------------------
def frame(action: str, body: dict | None = None) -> bytes:
    out: dict = {"action": action}
    if body is not None:
        out["body"] = json.dumps(body)
    return json.dumps(out).encode()


def register_frame(robot_id: str, supplier: str, secret: str) -> bytes:
    from executor.sdk.secret import build_supplier_secret

    body = {
        "supplierCode": supplier,
        "supplierSecret": build_supplier_secret(robot_id, supplier, secret),
        "version": "bench-1",
    }
    return frame("Register", body)


def log_lines(n: int, tag: str) -> list[dict]:
    """``n`` realistic log lines (~90 bytes of content each)."""
    return [
        {
            "content": f"{tag} step {i}: clicked the submit button, form accepted, order number 4711-{i:05d}",
            "logAt": f"2026-11-28T10:00:{i % 60:02d}.{i:06d}+08:00",
            "logLevel": i % 3,
        }
        for i in range(n)
    ]


def logs_frame(run_id: str, lines: list[dict]) -> bytes:
    return frame("ReportLogs", {"runInstanceId": run_id, "logs": lines})


# --- a lean WebSocket client (gevent sockets after monkey patching) ---------------------------------
def _ws_header(n: int) -> bytes:
    # FIN + text; MASK bit with an all-zero key (valid framing, no XOR cost in the client)
    if n < 126:
        return bytes((0x81, 0x80 | n)) + b"\0\0\0\0"
    if n < 65536:
        return bytes((0x81, 0x80 | 126)) + struct.pack("!H", n) + b"\0\0\0\0"
    return bytes((0x81, 0x80 | 127)) + struct.pack("!Q", n) + b"\0\0\0\0"


class RawWs:
    """Minimal RFC 6455 client: text frames out, text frames in; cheap enough for 10,000 connections."""

    def __init__(self, host: str, port: int, path: str, timeout: float = 60.0) -> None:
        s = socket.create_connection((host, port), timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(head.split(b"\r\n", 1)[0].decode(errors="replace"))
        s.settimeout(None)
        self.sock = s
        self.buf = bytearray(rest)

    def send(self, *payloads: bytes) -> None:
        out = bytearray()
        for p in payloads:
            out += _ws_header(len(p))
            out += p
        self.sock.sendall(out)

    def _read(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(262144)
            if not chunk:
                raise ConnectionError("closed by the server")
            self.buf += chunk
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def recv(self) -> str:
        """The next text message (answers pings; raises ConnectionError on close)."""
        parts: list[bytes] = []
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read(8))[0]
            mask = self._read(4) if b1 & 0x80 else None
            payload = self._read(n)
            if mask:
                payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
            op = b0 & 0x0F
            if op == 9:
                self.sock.sendall(bytes((0x8A, 0x80 | len(payload))) + b"\0\0\0\0" + payload)
                continue
            if op == 10:
                continue
            if op == 8:
                raise ConnectionError("close frame from the server")
            parts.append(payload)
            if b0 & 0x80:
                return b"".join(parts).decode()

    def recv_frame(self) -> dict:
        msg = json.loads(self.recv())
        if isinstance(msg.get("body"), str):
            msg["body"] = json.loads(msg["body"]) if msg["body"] else None
        return msg

    def close(self) -> None:
        try:
            self.sock.sendall(bytes((0x88, 0x82)) + b"\0\0\0\0" + struct.pack("!H", 1000))
        except OSError:
            pass
        self.sock.close()


def is_probe_reply(msg: dict) -> bool:
    body = msg.get("body") or {}
    return msg.get("action") == "Error" and PROBE_MARK in str(body.get("message", ""))


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


def worker_channel():  # noqa: ANN201
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


def start_pyspy(pid: int, seconds: float, out: Path, rate: int = 100) -> subprocess.Popen | None:
    """Sample ``pid`` with py-spy (raw collapsed stacks) for ``seconds``; None if py-spy is missing."""
    exe = ROOT / ".venv" / "bin" / "py-spy"
    if not exe.exists():
        print("  (py-spy not installed in the venv: no profile)", flush=True)
        return None
    argv = [
        str(exe),
        "record",
        "-p",
        str(pid),
        "-d",
        str(int(seconds)),
        "-r",
        str(rate),
        "-f",
        "raw",
        "-o",
        str(out),
        "--nonblocking",
    ]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class HttpPool:
    """Keep-alive JSON HTTP calls over a small pool of ``http.client`` connections (gevent-friendly)."""

    def __init__(
        self, host: str, port: int, size: int, token: str | None = None, quickack: bool = True
    ) -> None:
        import http.client
        import queue

        self._new = lambda: http.client.HTTPConnection(host, port, timeout=60)
        self._pool: queue.Queue = queue.Queue()
        for _ in range(size):
            self._pool.put(self._new())
        self.quickack = quickack
        self.headers = {"Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    def _roundtrip(self, conn, method: str, path: str, data: bytes | None):  # noqa: ANN001, ANN202
        conn.request(method, path, body=data, headers=self.headers)
        if self.quickack and conn.sock is not None:
            # ACK the answer's first segment at once: gevent's pywsgi sends headers and body in separate
            # segments without TCP_NODELAY, so Nagle + delayed ACK would add ~40 ms per keep-alive call.
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        return conn.getresponse()

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        conn = self._pool.get()
        try:
            data = json.dumps(body).encode() if body is not None else None
            try:
                resp = self._roundtrip(conn, method, path, data)
            except (ConnectionError, OSError):  # keep-alive connection dropped: one retry on a new one
                conn.close()
                conn = self._new()
                resp = self._roundtrip(conn, method, path, data)
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else {}
        finally:
            self._pool.put(conn)


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


def sql_counts(path: Path) -> dict[str, int]:
    """The latest cumulative statement counts written by bench/diag (empty if none yet)."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    if not lines:
        return {}
    return {k: int(v) for k, v in (item.split("=") for item in lines[-1].split()[1:])}
