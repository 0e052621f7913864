"""The conformance rules: each is a small function with a rule id and one line citing protocol.md.

A rule raises ``Failed`` with a reason, ``Skipped`` when it cannot be checked with the credentials at
hand, or returns to pass. This module holds the registry and shared helpers; the rules live in
``checks_ws``, ``checks_http``, ``checks_data`` and ``checks_runs`` (those needing admin credentials).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from conformance.client import Failed, Target, check, envelope_of, expect_error, short
from conformance.robots import HttpRobot, WsRobot

MiB = 1024 * 1024
HTTP_PATHS = {
    "ReportLogs": "reportLogs",
    "ReportFinish": "reportFinish",
    "ReportVideoRecord": "reportVideoRecord",
}
FAILURE_STATUSES = {400, 401, 403, 404, 405, 413, 429}


@dataclass(frozen=True)
class Rule:
    id: str
    description: str
    fn: Callable[[Target], None]
    needs_admin: bool = False


RULES: list[Rule] = []


def rule(rule_id: str, description: str, *, needs_admin: bool = False) -> Callable:
    """Register a rule function under ``rule_id``."""

    def deco(fn: Callable[[Target], None]) -> Callable[[Target], None]:
        RULES.append(Rule(rule_id, description, fn, needs_admin))
        return fn

    return deco


# --- helpers shared by the rules -------------------------------------------------------------------------


def registered_ws(t: Target, tag: str = "ws", for_runs: bool = False) -> WsRobot:
    robot = t.ws(tag, for_runs=for_runs)
    robot.register()
    robot.no_error_before_probe("Register with a valid supplierSecret")
    return robot


def registered_http(t: Target, tag: str = "http", for_runs: bool = False) -> HttpRobot:
    robot = t.http(tag, for_runs=for_runs)
    robot.register()
    return robot


def report(robot: WsRobot | HttpRobot, action: str, body: Any) -> tuple[int | None, str]:
    """Send an upward action on either transport: (errorCode, hint), or (None, "") if accepted."""
    what = f"{action} {short(body, 80)}"
    if isinstance(robot, WsRobot):
        robot.send(action, body)
        frames = robot.probe(what)
        errors = [f["body"] for f in frames if f["action"] == "Error" and isinstance(f.get("body"), dict)]
        return (errors[0].get("errorCode"), str(errors[0].get("message", ""))) if errors else (None, "")
    resp = robot.post(HTTP_PATHS[action], body)
    env = envelope_of(resp)
    if env["successful"]:
        check(200 <= resp.status_code < 300, f"HTTP {what}: successful=true with HTTP {resp.status_code}")
        return None, ""
    env = expect_error(resp, FAILURE_STATUSES, None)
    return env["resultValue"]["errorCode"], env["resultHint"]


def expect_code(robot: WsRobot | HttpRobot, action: str, body: Any, codes: set[int], names: str = "") -> None:
    """``action`` must be refused with one of ``codes`` (and a hint naming ``names`` if given)."""
    code, hint = report(robot, action, body)
    label = "WS" if isinstance(robot, WsRobot) else "HTTP"
    check(
        code in codes,
        f"{label} {action} {short(body, 90)}: got {code or 'success'}, expected {sorted(codes)}",
    )
    check(not names or names in hint, f"{label} {action}: hint {hint!r} does not name {names!r}")


def ws_with_run(t: Target, tag: str, **run_body: Any) -> tuple[WsRobot, str, dict]:
    """A registered WebSocket robot that has received Execute for a fresh run: (robot, runId, body)."""
    admin = t.need_admin()
    app_id = t.app_id()
    robot = registered_ws(t, tag, for_runs=True)
    run_id = admin.start_run(app_id, robot.robot_id, **run_body)
    body = robot.wait_action("Execute").get("body")
    check(
        isinstance(body, dict) and body.get("runInstanceId") == run_id,
        f"Execute for run {run_id}: body {short(body)}",
    )
    robot.run_id = run_id
    return robot, run_id, body


def http_with_run(t: Target, tag: str, **run_body: Any) -> tuple[HttpRobot, str, dict]:
    """A registered HTTP robot whose heartbeat has handed out Execute for a fresh run."""
    admin = t.need_admin()
    app_id = t.app_id()
    robot = registered_http(t, tag, for_runs=True)
    run_id = admin.start_run(app_id, robot.robot_id, **run_body)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        value = robot.heartbeat(wait=2)
        if value["Action"] == "Execute":
            body = value["Body"]
            check(
                isinstance(body, dict) and body.get("runInstanceId") == run_id,
                f"Execute for run {run_id}: Body {short(body)}",
            )
            return robot, run_id, body
        check(value["Action"] == "None", f"heartbeat while waiting for Execute: {short(value)}")
    raise Failed(f"HTTP heartbeat did not hand out Execute for run {run_id} within 10s")


def both_transports(t: Target, tag: str) -> list[WsRobot | HttpRobot]:
    return [registered_ws(t, tag + "-ws"), registered_http(t, tag + "-http")]


# --- WebSocket: registration (§1, §2) --------------------------------------------------------------------
