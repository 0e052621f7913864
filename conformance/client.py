"""What the checker speaks with: the target node, envelope checks, the admin API (robots: ``robots``).

They depend on nothing of the node but the wire (``requests``, ``simple_websocket``) and the executor
SDK's supplierSecret builder, so the checker judges any implementation of protocol.md.
"""

from __future__ import annotations

import io
import json
import secrets
import time
import zipfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import requests

if TYPE_CHECKING:
    from conformance.robots import HttpRobot, WsRobot

PROBE_CODE = 10006  # what a registered connection answers for a run that does not exist (§5)


class Failed(AssertionError):
    """A rule is broken; the message says how."""


class Skipped(Exception):  # an outcome, not an error
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
        from conformance.robots import WsRobot

        robot = WsRobot(self, robot_id or self.robot_id(tag), *self.credentials(for_runs))
        self.opened.append(robot)
        return robot

    def http(self, tag: str = "http", robot_id: str | None = None, for_runs: bool = False) -> HttpRobot:
        from conformance.robots import HttpRobot

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
