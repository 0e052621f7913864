"""The bare robots of the checker: a WebSocket executor and an HTTP executor, speaking the wire only."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from typing import Any

import requests
import simple_websocket
from simple_websocket import ConnectionClosed

from conformance.client import PROBE_CODE, Failed, Target, check, expect_ok, short
from protocol.secret import build_supplier_secret


def _daemon_thread(**kw: Any) -> threading.Thread:
    """A reader thread that never keeps the checker's process alive."""
    return threading.Thread(daemon=True, **kw)


class _WsClient(simple_websocket.Client):
    """simple_websocket's client with a bounded handshake that closes its socket when refused."""

    HANDSHAKE_TIMEOUT = 10.0

    def handshake(self) -> None:
        self.sock.settimeout(self.HANDSHAKE_TIMEOUT)
        try:
            super().handshake()
        except BaseException:
            self.sock.close()
            raise
        self.sock.settimeout(None)

    def _thread(self) -> None:
        # Frames that came in the same read as the handshake response wait in wsproto's buffer and
        # simple_websocket would look at them only when more data arrives: a node that sends Error and
        # a close frame right after accepting would seem silent. Handle them first.
        try:
            self.connected = self._handle_events()
        except OSError:
            self.connected = False
        if self.connected:
            super()._thread()
        else:
            self.event.set()
            self.sock.close()


class WsRobot:
    """A bare executor over WebSocket; frames are sent and read exactly as the rule says."""

    def __init__(self, target: Target, robot_id: str, supplier: str, secret: str) -> None:
        self.t, self.robot_id, self.supplier, self.secret = target, robot_id, supplier, secret
        self.run_id: str | None = None  # named in keep-alive heartbeats
        url = f"{target.ws_url}/robothub/{robot_id}"
        try:
            self.ws = _WsClient(url, thread_class=_daemon_thread)
        except (ConnectionError, OSError) as exc:
            raise Failed(f"WebSocket upgrade of {url} failed: {type(exc).__name__} {exc}") from None
        self.closed = False

    def send_raw(self, data: str | bytes) -> None:
        self._send(data)

    def _send(self, data: str | bytes) -> None:
        """Send, or ConnectionClosed when the node has closed the socket already: the client's reader
        thread may have closed the descriptor in between (EBADF), which is the same outcome."""
        try:
            self.ws.send(data)
        except OSError:
            self.closed = True
            raise ConnectionClosed() from None

    def send(self, action: str, body: Any = None, *, as_object: bool = False) -> None:
        """Send a frame; ``body`` goes as a string holding JSON (table A.1) unless ``as_object``."""
        frame: dict[str, Any] = {"action": action}
        if body is not None:
            frame["body"] = (
                body if as_object or isinstance(body, str) else json.dumps(body, ensure_ascii=False)
            )
        self._send(json.dumps(frame, ensure_ascii=False))

    def recv(self, timeout: float | None = None) -> dict | None:
        """The next frame (its ``body`` decoded), None on timeout; Failed if the node sends garbage."""
        try:
            text = self.ws.receive(self.t.timeout if timeout is None else timeout)
        except ConnectionClosed:
            self.closed = True
            raise
        if text is None:
            return None
        try:
            frame = json.loads(text)
        except (TypeError, ValueError):
            raise Failed(f"node sent a frame that is not JSON: {short(str(text))}") from None
        check(isinstance(frame, dict) and isinstance(frame.get("action"), str), f"bad frame {short(text)}")
        body = frame.get("body")
        if isinstance(body, str):
            try:
                frame["body"] = json.loads(body) if body else None
            except ValueError:
                raise Failed(f"{frame['action']} body is not a string holding JSON: {short(body)}") from None
        return frame

    def register(self, secret: str | None = None, supplier: str | None = None, **extra: Any) -> None:
        supplier = supplier or self.supplier
        value = secret or build_supplier_secret(self.robot_id, supplier, self.secret)
        self.send(
            "Register", {"supplierCode": supplier, "supplierSecret": value, "version": "conformance", **extra}
        )

    def heartbeat(self, run_id: str | None = None) -> None:
        run_id = run_id or self.run_id
        self.send("Heartbeat", {"runInstanceId": run_id} if run_id else {})

    def probe(self, what: str = "the frame") -> list[dict]:
        """Prove the connection is open and registered: a ReportFinish for a run that does not exist
        must be answered with Error 10006. Returns the frames that came before that answer; frames are
        handled in order, so an Error among them belongs to what was sent before the probe.
        """
        marker = self.t.run_id("probe")
        self.send("ReportFinish", {"runInstanceId": marker, "status": 0})
        before: list[dict] = []
        deadline = time.monotonic() + self.t.timeout
        while True:
            try:
                frame = self.recv(max(0.05, deadline - time.monotonic()))
            except ConnectionClosed:
                raise Failed(f"connection closed after {what}") from None
            if frame is None:
                raise Failed(f"no answer to a probe after {what} within {self.t.timeout:.0f}s")
            body = frame.get("body") if isinstance(frame.get("body"), dict) else {}
            if frame["action"] == "Error" and body.get("errorCode") in (PROBE_CODE, 10003):
                check(
                    body["errorCode"] == PROBE_CODE,
                    f"connection is not registered after {what} (probe got 10003)",
                )
                if marker in str(body.get("message", "")):
                    return before
                # The message does not name the run: a second 10006 right behind means this one
                # answered an earlier frame.
                try:
                    nxt = self.recv(0.3)
                except ConnectionClosed:
                    raise Failed(f"connection closed after {what}") from None
                if nxt is None:
                    return before
                before.append(frame)
                frame = nxt
                body = frame.get("body") if isinstance(frame.get("body"), dict) else {}
                if frame["action"] == "Error" and body.get("errorCode") == PROBE_CODE:
                    return before
            before.append(frame)

    def expect_error(self, codes: set[int] | int, what: str, timeout: float | None = None) -> dict:
        """The next Error frame (skipping commands) must carry one of ``codes``; returns its body."""
        codes = {codes} if isinstance(codes, int) else codes
        deadline = time.monotonic() + (self.t.timeout if timeout is None else timeout)
        while True:
            try:
                frame = self.recv(max(0.05, deadline - time.monotonic()))
            except ConnectionClosed:
                raise Failed(f"{what}: connection closed without an Error frame") from None
            if frame is None:
                raise Failed(f"{what}: no Error frame within {self.t.timeout:.0f}s")
            if frame["action"] != "Error":
                continue
            body = frame.get("body")
            check(isinstance(body, dict), f"{what}: Error without a body")
            code = body.get("errorCode")
            check(
                code in codes,
                f"{what}: Error {code} ({short(body.get('message', ''))}), expected {sorted(codes)}",
            )
            return body

    def no_error_before_probe(self, what: str) -> list[dict]:
        """What was sent must be accepted silently (no Error before the probe's answer)."""
        frames = self.probe(what)
        errors = [f for f in frames if f["action"] == "Error"]
        if errors:
            raise Failed(f"{what}: answered with {short(errors[0].get('body'))}")
        return frames

    def wait_action(self, action: str, timeout: float = 10.0) -> dict:
        """Wait for a command frame, sending keep-alive heartbeats (node timers may be short)."""
        deadline = time.monotonic() + timeout
        next_beat = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            try:
                frame = self.recv(0.25)
            except ConnectionClosed:
                raise Failed(f"connection closed while waiting for {action}") from None
            if frame is not None:
                if frame["action"] == action:
                    return frame
                check(
                    frame["action"] != "Error",
                    f"Error while waiting for {action}: {short(frame.get('body'))}",
                )
            if time.monotonic() >= next_beat:
                self.heartbeat()
                next_beat = time.monotonic() + 0.5
        raise Failed(f"no {action} frame within {timeout:.0f}s")

    def closes(self, timeout: float | None = None) -> bool:
        """Whether the node closes this connection within ``timeout`` (other frames are skipped)."""
        deadline = time.monotonic() + (self.t.timeout if timeout is None else timeout)
        while time.monotonic() < deadline:
            try:
                self.recv(max(0.05, deadline - time.monotonic()))
            except ConnectionClosed:
                return True
        return not self.ws.connected

    def close(self) -> None:
        """Send a close frame, and drop the socket if the node does not finish the close handshake."""
        with contextlib.suppress(Exception):  # already gone
            self.ws.close()
        self.ws.thread.join(0.5)
        if self.ws.thread.is_alive():
            with contextlib.suppress(OSError):
                self.ws.sock.shutdown(socket.SHUT_RDWR)
            self.ws.thread.join(0.5)


class HttpRobot:
    """A bare executor over HTTP: every call returns the raw response for the rule to judge."""

    def __init__(self, target: Target, robot_id: str, supplier: str, secret: str) -> None:
        self.t, self.robot_id, self.supplier, self.secret = target, robot_id, supplier, secret
        self.connect_id: str | None = None
        self.http = requests.Session()

    def headers(self) -> dict[str, str]:
        out = {"robotId": self.robot_id}
        if self.connect_id:
            out["robotConnectId"] = self.connect_id
        return out

    def post(
        self,
        action: str,
        body: Any = None,
        *,
        headers: dict | None = None,
        data: Any = None,
        timeout: float | None = None,
    ) -> requests.Response:
        """POST /robots/connect/{action}: ``body`` as JSON, or ``data`` as raw bytes."""
        hdrs = {**self.headers(), **(headers or {})}
        kw: dict[str, Any] = {"data": data} if data is not None else {"json": body}
        if data is not None:
            hdrs.setdefault("Content-Type", "application/json")
        return self.http.post(
            f"{self.t.url}/robots/connect/{action}",
            headers=hdrs,
            timeout=timeout or self.t.timeout + 35,
            **kw,
        )

    def register_response(self, secret: str | None = None) -> requests.Response:
        value = secret or build_supplier_secret(self.robot_id, self.supplier, self.secret)
        return self.post(
            "register", {"supplierCode": self.supplier, "supplierSecret": value, "version": "conformance"}
        )

    def register(self) -> str:
        value = expect_ok(self.register_response())
        check(
            isinstance(value, dict)
            and isinstance(value.get("robotConnectId"), str)
            and value["robotConnectId"],
            f"register: resultValue has no robotConnectId ({short(value)})",
        )
        self.connect_id = value["robotConnectId"]
        return self.connect_id

    def heartbeat(self, run_id: str | None = None, wait: float | None = None) -> dict:
        headers = {"X-Wait-Seconds": str(wait)} if wait is not None else {}
        value = expect_ok(
            self.post("heartbeat", {"runInstanceId": run_id} if run_id else {}, headers=headers)
        )
        check(
            isinstance(value, dict) and "Action" in value and "Body" in value,
            f"heartbeat: resultValue is not {{Action, Body}} ({short(value)})",
        )
        return value

    def upload(
        self,
        source: str = "file",
        content: bytes = b"conformance",
        name: str = "c.txt",
        headers: dict | None = None,
    ) -> requests.Response:
        return self.http.post(
            f"{self.t.url}/v1/file/{source}/upload",
            files={"file": (name, content)},
            headers=self.headers() if headers is None else headers,
            timeout=self.t.timeout + 25,
        )

    def close(self) -> None:
        self.http.close()
