"""The protocol as the load generators speak it: frames, the latency probe, a lean WebSocket client and a
keep-alive HTTP pool (both gevent-friendly after monkey patching).

Part of the benchmark harness (``harness.py`` re-exports it); the benchmarks run as scripts
(``python bench/<name>.py``).
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import sys
from pathlib import Path

PROBE = b'{"action":"BenchProbe"}'  # unknown action: the node answers Error 10001 after earlier frames
PROBE_MARK = "BenchProbe"

_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:  # register_frame signs with the executor SDK of this repo
    sys.path.insert(0, _ROOT)


# --- frames ------------------------------------------------------------------------------------------
def frame(action: str, body: dict | None = None) -> bytes:
    out: dict = {"action": action}
    if body is not None:
        out["body"] = json.dumps(body)
    return json.dumps(out).encode()


def register_frame(robot_id: str, supplier: str, secret: str) -> bytes:
    from protocol.secret import build_supplier_secret

    body = {
        "supplierCode": supplier,
        "supplierSecret": build_supplier_secret(robot_id, supplier, secret),
        "version": "bench-1",
    }
    return frame("Register", body)


CLOCK = "@@:@@:@@"  # placeholder for a batch's hh:mm:ss (see ``clocked``)


def log_lines(n: int, tag: str, clock: str | None = None) -> list[dict]:
    """``n`` realistic log lines (~90 bytes of content each).

    ``clock`` (``hh:mm:ss``, or ``CLOCK`` for a frame template) puts every line in that second, the
    i-th line at microsecond i; without it the lines spread over one minute of a fixed day.
    """
    return [
        {
            "content": f"{tag} step {i}: clicked the submit button, form accepted, order number 4711-{i:05d}",
            "logAt": f"2026-11-28T{clock}.{i:06d}+08:00"
            if clock
            else f"2026-11-28T10:00:{i % 60:02d}.{i:06d}+08:00",
            "logLevel": i % 3,
        }
        for i in range(n)
    ]


def clock_of(k: int) -> str:
    """The ``hh:mm:ss`` of batch ``k``: one second per batch, so every batch is later than the last."""
    hh, rest = divmod(k % 86400, 3600)
    return f"{hh:02d}:{rest // 60:02d}:{rest % 60:02d}"


def clocked(template: bytes, k: int) -> bytes:
    """A frame built with ``log_lines(..., clock=CLOCK)``, its lines moved to batch ``k``'s second.

    Executors log forward in time; re-sending one frame with the same times would make every batch
    insert into the middle of the (run, time) index instead of at its end, a load no executor makes.
    """
    return template.replace(CLOCK.encode(), clock_of(k).encode())


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


# --- keep-alive HTTP -----------------------------------------------------------------------------------
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

    def _roundtrip(self, conn, method: str, path: str, data: bytes | None):
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
