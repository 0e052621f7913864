"""The clients the checker speaks with: a bare WebSocket robot, a bare HTTP robot, the admin API.

They depend on nothing of the node but the wire (``requests``, ``simple_websocket``) and the executor
SDK's supplierSecret builder, so the checker judges any implementation of protocol.md.
"""

from __future__ import annotations

import contextlib
import io
import json
import secrets
import socket
import threading
import time
import zipfile
from dataclasses import dataclass, field
from typing import Any

import requests
import simple_websocket
from simple_websocket import ConnectionClosed

from executor.sdk.secret import build_supplier_secret

PROBE_CODE = 10006  # what a registered connection answers for a run that does not exist (§5)


class Failed(AssertionError):
    """A rule is broken; the message says how."""


class Skipped(Exception):  # noqa: N818 (an outcome, not an error)
    """A rule cannot be checked with the credentials given."""


def check(condition: object, reason: str) -> None:
    """Fail the rule with ``reason`` unless ``condition`` holds."""
    if not condition:
        raise Failed(reason)


def short(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + "..."


# --- HTTP envelope -------------------------------------------------------------------------------------


def envelope_of(resp: requests.Response) -> dict:
    """The response's envelope ``{successful, resultHint, resultValue}``; Failed if it is not one."""
    where = f"{resp.request.method} {resp.request.path_url} -> {resp.status_code}"
    check(resp.status_code < 500, f"{where}: a 5xx answer ({short(resp.text)})")
    ctype = resp.headers.get("Content-Type", "")
    check("json" in ctype, f"{where}: Content-Type {ctype!r}, not JSON ({short(resp.text)})")
    try:
        env = resp.json()
    except ValueError:
        raise Failed(f"{where}: body is not JSON ({short(resp.text)})") from None
    check(isinstance(env, dict), f"{where}: envelope is not an object ({short(env)})")
    missing = {"successful", "resultHint", "resultValue"} - set(env)
    check(not missing, f"{where}: envelope misses {sorted(missing)} ({short(env)})")
    check(isinstance(env["successful"], bool), f"{where}: 'successful' is not a bool")
    check(isinstance(env["resultHint"], str), f"{where}: 'resultHint' is not a string")
    return env


def expect_ok(resp: requests.Response) -> Any:
    """A successful envelope (2xx, successful=true); returns ``resultValue``."""
    env = envelope_of(resp)
    where = f"{resp.request.method} {resp.request.path_url}"
    check(
        200 <= resp.status_code < 300 and env["successful"] is True,
        f"{where}: expected success, got {resp.status_code} {short(env)}",
    )
    return env["resultValue"]


def expect_error(resp: requests.Response, statuses: set[int] | int, codes: set[int] | int | None) -> dict:
    """A failed envelope with one of ``statuses`` and error ``codes`` (None: any int code)."""
    statuses = {statuses} if isinstance(statuses, int) else statuses
    codes = {codes} if isinstance(codes, int) else codes
    env = envelope_of(resp)
    where = f"{resp.request.method} {resp.request.path_url}"
    check(env["successful"] is False, f"{where}: expected a failure, got {resp.status_code} {short(env)}")
    check(
        resp.status_code in statuses,
        f"{where}: HTTP {resp.status_code}, expected {sorted(statuses)} ({short(env)})",
    )
    value = env["resultValue"]
    code = value.get("errorCode") if isinstance(value, dict) else None
    check(
        isinstance(code, int) and not isinstance(code, bool),
        f"{where}: resultValue.errorCode missing ({short(env)})",
    )
    check(codes is None or code in codes, f"{where}: errorCode {code}, expected {sorted(codes or ())}")
    check(env["resultHint"].strip(), f"{where}: empty resultHint on a failure")
    return env


# --- the node under test ---------------------------------------------------------------------------------


@dataclass
class Target:
    """The node under test, the credentials the checker may use, and what a rule opened."""

    url: str
    supplier: str | None = None
    secret: str | None = None
    admin: AdminApi | None = None
    timeout: float = 5.0
    prefix: str = field(default_factory=lambda: "conf-" + secrets.token_hex(4))
    opened: list[Any] = field(default_factory=list)
    _count: int = 0
    _run_supplier: tuple[str, str] | None = None
    _app_id: str | None = None

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        scheme, _, rest = self.url.partition("://")
        self.ws_url = ("wss" if scheme == "https" else "ws") + "://" + rest

    def robot_id(self, tag: str) -> str:
        """A robot id unique to this checker run, so reruns against the same node never collide."""
        self._count += 1
        return f"{self.prefix}-{tag}-{self._count}"[:64]

    def run_id(self, tag: str = "nope") -> str:
        """A runInstanceId that no node has issued."""
        return f"{self.prefix}-{tag}-{secrets.token_hex(4)}"[:40]

    def credentials(self, for_runs: bool = False) -> tuple[str, str]:
        """(supplierCode, raw secret) to register robots; run rules use the checker's own supplier."""
        if for_runs or self.supplier is None:
            return self.run_supplier()
        return self.supplier, self.secret or ""

    def need_admin(self) -> AdminApi:
        if self.admin is None:
            raise Skipped("needs --admin-*")
        return self.admin

    def run_supplier(self) -> tuple[str, str]:
        """A throwaway supplier whose only engine is unique to this run (no real run is ever routed to it)."""
        if self._run_supplier is None:
            admin = self.need_admin()
            code = self.prefix.replace("conf-", "conformance-")
            self._run_supplier = (code, admin.create_supplier(code, [self.engine]))
        return self._run_supplier

    @property
    def engine(self) -> str:
        return self.prefix.replace("conf-", "conformance-")

    def app_id(self) -> str:
        """A throwaway process package for the run rules (uploaded once per checker run)."""
        if self._app_id is None:
            self._app_id = self.need_admin().upload_app(package_zip(self.engine), self.engine)
        return self._app_id

    def ws(self, tag: str = "ws", robot_id: str | None = None, for_runs: bool = False) -> WsRobot:
        robot = WsRobot(self, robot_id or self.robot_id(tag), *self.credentials(for_runs))
        self.opened.append(robot)
        return robot

    def http(self, tag: str = "http", robot_id: str | None = None, for_runs: bool = False) -> HttpRobot:
        robot = HttpRobot(self, robot_id or self.robot_id(tag), *self.credentials(for_runs))
        self.opened.append(robot)
        return robot

    def close_opened(self) -> None:
        while self.opened:
            self.opened.pop().close()


def package_zip(engine: str) -> bytes:
    """A minimal process package for ``engine`` with a plain and a secret argument."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        manifest = {
            "name": engine,
            "version": "1.0",
            "engine": engine,
            "entry": "tasks.robot",
            "arguments": [
                {"name": "greeting", "type": "string", "required": False, "default": "hi"},
                {"name": "token", "type": "secret", "required": False, "default": ""},
            ],
        }
        zf.writestr("manifest.json", json.dumps(manifest))
        zf.writestr("tasks.robot", "*** Tasks ***\nSay Hello\n    Log    hello\n")
    return buf.getvalue()


# --- robots -----------------------------------------------------------------------------------------------


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
        self.ws.send(data)

    def send(self, action: str, body: Any = None, *, as_object: bool = False) -> None:
        """Send a frame; ``body`` goes as a string holding JSON (table A.1) unless ``as_object``."""
        frame: dict[str, Any] = {"action": action}
        if body is not None:
            frame["body"] = (
                body if as_object or isinstance(body, str) else json.dumps(body, ensure_ascii=False)
            )
        self.ws.send(json.dumps(frame, ensure_ascii=False))

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


class AdminApi:
    """The management API as an administrator (only the calls the run rules need)."""

    def __init__(self, url: str, username: str, password: str, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.http = requests.Session()
        resp = self.http.post(
            f"{self.url}/api/v1/auth/token",
            json={"username": username, "password": password},
            timeout=timeout,
        )
        try:
            token = resp.json()["resultValue"]["token"]
        except (ValueError, KeyError, TypeError):
            raise RuntimeError(f"admin sign-in failed: HTTP {resp.status_code} {short(resp.text)}") from None
        self.http.headers["Authorization"] = f"Bearer {token}"

    def value(self, method: str, path: str, **kw: Any) -> Any:
        resp = self.http.request(method, f"{self.url}/api/v1{path}", timeout=self.timeout, **kw)
        try:
            return expect_ok(resp)
        except Failed as exc:
            raise Failed(f"management API: {exc}") from None

    def create_supplier(self, code: str, engines: list[str]) -> str:
        return self.value("POST", "/suppliers", json={"code": code, "name": code, "engines": engines})[
            "secret"
        ]

    def upload_app(self, zip_bytes: bytes, name: str) -> str:
        return self.value("POST", "/apps", files={"package": ("p.zip", zip_bytes)}, data={"name": name})[
            "appId"
        ]

    def start_run(self, app_id: str, robot_id: str, **body: Any) -> str:
        return self.value("POST", "/runs", json={"appId": app_id, "robotId": robot_id, **body})[
            "runInstanceId"
        ]

    def run(self, run_id: str) -> dict:
        return self.value("GET", f"/runs/{run_id}")

    def logs(self, run_id: str) -> list[dict]:
        items: list[dict] = []
        while True:
            page = self.value("GET", f"/runs/{run_id}/logs", params={"limit": 1000, "offset": len(items)})
            items += page["items"]
            if not page["items"] or len(items) >= page["total"]:
                return items

    def transitions(self, run_id: str) -> list[dict]:
        return self.value("GET", f"/runs/{run_id}/transitions")["items"]

    def stop(self, run_id: str) -> dict:
        return self.value("POST", f"/runs/{run_id}/stop")

    def wait_status(self, run_id: str, statuses: set[str], timeout: float = 10.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            run = self.run(run_id)
            if run["status"] in statuses:
                return run
            if time.monotonic() > deadline:
                raise Failed(f"run {run_id} is {run['status']}, expected {sorted(statuses)}")
            time.sleep(0.05)

    def close(self) -> None:
        self.http.close()
