"""The conformance rules: each is a small function with a rule id and one line citing protocol.md.

A rule raises ``Failed`` with a reason, ``Skipped`` when it cannot be checked with the credentials at
hand, or returns to pass. Rules that need runs (admin credentials) live in ``checks_runs``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from simple_websocket import ConnectionClosed

from executor.sdk.secret import build_supplier_secret
from node.conformance.client import (
    Failed,
    HttpRobot,
    Target,
    WsRobot,
    check,
    envelope_of,
    expect_error,
    expect_ok,
    short,
)

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


@rule("WS-REG-01", "Register with a valid supplierSecret is accepted (§1, §2)")
def ws_register_valid(t: Target) -> None:
    robot = t.ws("reg")
    robot.register()
    frames = robot.no_error_before_probe("Register")
    check(
        all(f["action"] in ("SendLicense",) for f in frames),
        f"unexpected frames after Register: {short(frames)}",
    )


def _refused(robot: WsRobot, secret: str | None, what: str, supplier: str | None = None) -> None:
    robot.register(secret=secret, supplier=supplier)
    robot.expect_error(10002, what)
    check(robot.closes(), f"{what}: connection still open after Error 10002")


@rule("WS-REG-02", "Register with a wrong signature gets Error 10002 and the connection is closed (§1, §2)")
def ws_register_bad_signature(t: Target) -> None:
    robot = t.ws("badsig")
    good = build_supplier_secret(robot.robot_id, robot.supplier, robot.secret)
    ts, nonce, sig = good.split(".")
    _refused(robot, f"{ts}.{nonce}.{'A' if sig[0] != 'A' else 'B'}{sig[1:]}", "wrong signature")


@rule("WS-REG-03", "A replayed supplierSecret (nonce already used) is refused with 10002 (§1)")
def ws_register_replay(t: Target) -> None:
    first = t.http("replay")
    secret = build_supplier_secret(first.robot_id, first.supplier, first.secret)
    expect_ok(first.register_response(secret))
    robot = t.ws(robot_id=first.robot_id)
    _refused(robot, secret, "replayed supplierSecret")


@rule("WS-REG-04", "A supplierSecret with a timestamp more than 300 s off is refused with 10002 (§1)")
def ws_register_skew(t: Target) -> None:
    for offset in (-900, 900):
        robot = t.ws("skew")
        secret = build_supplier_secret(robot.robot_id, robot.supplier, robot.secret, now=time.time() + offset)
        _refused(robot, secret, f"timestamp {offset:+d} s")


@rule("WS-REG-05", "Register under an unknown supplier is refused with 10002 (§1)")
def ws_register_unknown_supplier(t: Target) -> None:
    robot = t.ws("nosup")
    code = t.prefix + "-no-such-supplier"
    _refused(robot, build_supplier_secret(robot.robot_id, code, "x" * 32), "unknown supplier", supplier=code)


@rule(
    "WS-REG-06",
    "A supplierSecret signed for another robotId is refused with 10002; the URL id rules (§1, §2)",
)
def ws_register_other_robot(t: Target) -> None:
    robot = t.ws("other")
    _refused(
        robot,
        build_supplier_secret(robot.robot_id + "x", robot.supplier, robot.secret),
        "secret of another id",
    )


@rule("WS-REG-07", "Register without supplierCode or supplierSecret gets Error 10001 (§2)")
def ws_register_missing_fields(t: Target) -> None:
    for body in ({"supplierCode": "x"}, {"supplierSecret": "1.abcdefghijklmnop.x"}, {}):
        robot = t.ws("regmiss")
        robot.send("Register", body)
        robot.expect_error(10001, f"Register {body}")


@rule("WS-REG-08", "Any action before Register gets Error 10003 and the connection stays open (§2)")
def ws_before_register(t: Target) -> None:
    robot = t.ws("early")
    robot.heartbeat()
    robot.expect_error(10003, "Heartbeat before Register")
    robot.send(
        "ReportLogs", {"runInstanceId": t.run_id(), "logs": [{"content": "x", "logAt": 0, "logLevel": 0}]}
    )
    robot.expect_error(10003, "ReportLogs before Register")
    robot.send("ReportFinish", {"runInstanceId": t.run_id(), "status": 0})
    robot.expect_error(10003, "ReportFinish before Register")
    robot.register()
    robot.no_error_before_probe("Register after refused actions")


@rule("WS-REG-09", "A second connection while the first is live gets Error 10000 and is closed (§2)")
def ws_duplicate(t: Target) -> None:
    first = registered_ws(t, "dup")
    first.heartbeat()
    second = t.ws(robot_id=first.robot_id)
    second.register()
    second.expect_error(10000, "second live connection")
    check(second.closes(), "second connection still open after Error 10000")
    first.no_error_before_probe("a refused duplicate (the first connection must keep working)")


@rule(
    "WS-REG-10", "A robotId in the URL that is not 1-64 chars of [A-Za-z0-9._:-] is refused with 10001 (§1)"
)
def ws_bad_robot_id(t: Target) -> None:
    for bad in ("x" * 65, "bad%20id"):
        robot = WsRobot(t, bad, *t.credentials())
        t.opened.append(robot)
        # The node may refuse at once, before the Register frame; a closed socket keeps what it got.
        with contextlib.suppress(ConnectionClosed):
            robot.register()
        robot.expect_error(10001, f"robotId {bad!r}")


# --- WebSocket: frames (§2) --------------------------------------------------------------------------------


@rule("WS-FRM-01", "A frame that is not JSON gets Error 10001 and the connection stays open (§2)")
def ws_not_json(t: Target) -> None:
    robot = registered_ws(t, "nojson")
    for raw in ("not json", "{", "\x00\x01"):
        robot.send_raw(raw)
        robot.expect_error(10001, f"frame {raw!r}")
        robot.no_error_before_probe(f"frame {raw!r}")


@rule("WS-FRM-02", "An unknown action gets Error 10001 naming the action; the connection stays open (§2)")
def ws_unknown_action(t: Target) -> None:
    robot = registered_ws(t, "unknown")
    for action in ("Launch", "Execute", "register", ""):
        robot.send(action, {})
        body = robot.expect_error(10001, f"action {action!r}")
        check("action" in str(body.get("message", "")), f"action {action!r}: message does not name 'action'")
        robot.no_error_before_probe(f"action {action!r}")


@rule("WS-FRM-03", "Wrong field types get Error 10001 naming the field; the connection stays open (§2)")
def ws_wrong_types(t: Target) -> None:
    robot = registered_ws(t, "types")
    run = t.run_id()
    cases = [
        ("ReportFinish", {"runInstanceId": run, "status": "done"}, "status"),
        ("ReportFinish", {"runInstanceId": run, "status": 7}, "status"),
        ("ReportFinish", {"runInstanceId": 12345678, "status": 0}, "runInstanceId"),
        ("ReportLogs", {"runInstanceId": run, "logs": "all"}, "logs"),
        ("ReportLogs", {"runInstanceId": [run], "logs": []}, "runInstanceId"),
        ("ReportVideoRecord", {"runInstanceId": run, "videoId": {"id": 1}}, "videoId"),
        ("Heartbeat", {"runInstanceId": {"a": 1}}, "runInstanceId"),
    ]
    for action, body, field in cases:
        expect_code(robot, action, body, {10001}, field)


@rule("WS-FRM-04", "A frame that is not an object with a string 'action' gets Error 10001 (§2)")
def ws_frame_shape(t: Target) -> None:
    robot = registered_ws(t, "shape")
    for raw in ('["Heartbeat"]', "42", '"Heartbeat"', "null", '{"body": "{}"}', '{"action": 5}'):
        robot.send_raw(raw)
        robot.expect_error(10001, f"frame {raw}")
        robot.no_error_before_probe(f"frame {raw}")


@rule("WS-FRM-05", "body may be a JSON object instead of a string, and unknown fields are ignored (§2)")
def ws_body_object(t: Target) -> None:
    robot = t.ws("objbody")
    secret = build_supplier_secret(robot.robot_id, robot.supplier, robot.secret)
    robot.send(
        "Register", {"supplierCode": robot.supplier, "supplierSecret": secret, "extra": 1}, as_object=True
    )
    robot.no_error_before_probe("Register with an object body")
    robot.send("Heartbeat", {"metrics": {"cpu": 5}, "vendorField": "x"}, as_object=True)
    robot.no_error_before_probe("Heartbeat with an object body and an unknown field")
    robot.send_raw('{"action": "Heartbeat", "body": "{}", "traceId": "abc"}')
    robot.no_error_before_probe("a frame with an unknown top-level field")
    robot.send("ReportFinish", {"runInstanceId": t.run_id(), "status": 0}, as_object=True)
    robot.expect_error(10006, "ReportFinish with an object body for an unknown run")


@rule("WS-FRM-06", "A frame over 1 MiB is refused with Error 10001 and the connection stays open (§2)")
def ws_oversize(t: Target) -> None:
    robot = registered_ws(t, "big")
    line = {"content": "x" * 60000, "logAt": 1700000000000, "logLevel": 0}
    body = {"runInstanceId": t.run_id(), "logs": [line] * (MiB // 60000 + 2)}
    robot.send("ReportLogs", body, as_object=True)
    robot.expect_error(10001, "a frame of more than 1 MiB", timeout=max(t.timeout, 15))
    robot.no_error_before_probe("an oversize frame")


@rule("WS-FRM-07", "A body string that is not valid JSON gets Error 10001 (§2)")
def ws_body_not_json(t: Target) -> None:
    robot = registered_ws(t, "bodyjson")
    for body in ("{", "[1, 2", "runInstanceId=1"):
        robot.send("ReportLogs", body)
        robot.expect_error(10001, f"body {body!r}")
    robot.no_error_before_probe("bodies that are not JSON")


@rule(
    "WS-HB-01", "Heartbeat (no body, empty, with metrics) gets no answer and the connection stays open (§2)"
)
def ws_heartbeat(t: Target) -> None:
    robot = registered_ws(t, "hb")
    robot.send("Heartbeat")
    robot.send("Heartbeat", {})
    robot.send("Heartbeat", {"runInstanceId": ""})
    robot.send("Heartbeat", {"metrics": {"cpu": 12.5, "memory": 40, "disk": 70}})
    robot.no_error_before_probe("four heartbeats")


# --- HTTP (§3) -----------------------------------------------------------------------------------------


@rule("HTTP-REG-01", "register with a valid supplierSecret answers 200 and a robotConnectId (§3)")
def http_register(t: Target) -> None:
    robot = t.http("reg")
    resp = robot.register_response()
    check(resp.status_code == 200, f"register: HTTP {resp.status_code}, expected 200")
    value = expect_ok(resp)
    check(
        isinstance(value, dict) and isinstance(value.get("robotConnectId"), str) and value["robotConnectId"],
        f"register: no robotConnectId in {short(value)}",
    )
    check("licenseContent" in value, "register: resultValue has no licenseContent field (table A.12)")


@rule(
    "HTTP-REG-02",
    "register with a bad, replayed, skewed or foreign supplierSecret answers 401 / 10002 (§1, §3)",
)
def http_register_refused(t: Target) -> None:
    robot = t.http("regbad")
    good = build_supplier_secret(robot.robot_id, robot.supplier, robot.secret)
    expect_ok(robot.register_response(good))
    ts, nonce, sig = good.split(".")
    cases = {
        "replayed": good,
        "wrong signature": f"{ts}.{t.prefix}nonce0000000000.{sig}",
        "skewed": build_supplier_secret(robot.robot_id, robot.supplier, robot.secret, now=time.time() - 900),
        "for another robotId": build_supplier_secret(robot.robot_id + "x", robot.supplier, robot.secret),
        "not ts.nonce.sig": "plain-secret",
    }
    for what, secret in cases.items():
        try:
            expect_error(robot.register_response(secret), 401, 10002)
        except Failed as exc:
            raise Failed(f"{what}: {exc}") from None


@rule(
    "HTTP-REG-03", "register without a valid robotId header is refused with 400/401 and an envelope (§1, §3)"
)
def http_register_no_robot_id(t: Target) -> None:
    robot = t.http("noid")
    secret = build_supplier_secret(robot.robot_id, robot.supplier, robot.secret)
    body = {"supplierCode": robot.supplier, "supplierSecret": secret}
    url = f"{t.url}/robots/connect/register"
    expect_error(requests.post(url, json=body, timeout=t.timeout + 5), {400, 401}, {10001, 10003})
    expect_error(
        requests.post(url, json=body, headers={"robotId": "no spaces!"}, timeout=t.timeout + 5),
        {400, 401},
        {10001, 10003},
    )


@rule(
    "HTTP-AUTH-01", "Calls without a current robotConnectId answer 401 (10003, or 10000 if superseded) (§3)"
)
def http_unregistered(t: Target) -> None:
    robot = t.http("unreg")
    expect_error(robot.post("heartbeat", {}), 401, 10003)
    expect_error(robot.post("heartbeat", {}, headers={"robotConnectId": "c_" + "0" * 24}), 401, 10003)
    robot.register()
    expect_error(robot.post("heartbeat", {}, headers={"robotConnectId": "c_wrong"}), 401, {10000, 10003})
    http = requests.post(
        f"{t.url}/robots/connect/heartbeat",
        json={},
        headers={"robotId": robot.robot_id},
        timeout=t.timeout + 5,
    )
    expect_error(http, 401, 10003)


@rule(
    "HTTP-AUTH-02", "A new register supersedes the old robotConnectId: old gets 401 / 10000, new works (§3)"
)
def http_superseded(t: Target) -> None:
    robot = registered_http(t, "super")
    old = robot.connect_id
    robot.register()
    check(robot.connect_id != old, "a second register returned the same robotConnectId")
    hdr = {"robotConnectId": old}
    expect_error(robot.post("heartbeat", {}, headers=hdr), 401, 10000)
    logs = [{"content": "x", "logAt": 0, "logLevel": 0}]
    expect_error(
        robot.post("reportLogs", {"runInstanceId": t.run_id(), "logs": logs}, headers=hdr), 401, 10000
    )
    robot.heartbeat()


@rule("HTTP-AUTH-03", "Header names robotId and robotConnectId are case-insensitive (§3)")
def http_header_case(t: Target) -> None:
    robot = registered_http(t, "case")
    resp = requests.post(
        f"{t.url}/robots/connect/heartbeat",
        json={},
        headers={"ROBOTID": robot.robot_id, "robotconnectid": robot.connect_id or ""},
        timeout=t.timeout + 5,
    )
    expect_ok(resp)


@rule(
    "HTTP-ENV-01",
    "Failures are JSON envelopes with errorCode and a hint; 400/401/404, never 5xx or HTML (§3)",
)
def http_error_envelopes(t: Target) -> None:
    robot = registered_http(t, "env")
    base = f"{t.url}/robots/connect"
    expect_error(robot.post("reportLogs", data=b"not json"), 400, 10001)
    expect_error(robot.post("reportLogs", data=b"\xff\xfe\x00"), 400, 10001)
    expect_error(robot.post("reportLogs", [1, 2, 3]), 400, 10001)
    expect_error(robot.post("reportFinish", {"runInstanceId": t.run_id(), "status": "ok"}), 400, 10001)
    expect_error(robot.post("reportFinish", "text"), 400, 10001)
    expect_error(robot.post("heartbeat", {"runInstanceId": 5}), 400, 10001)
    expect_error(robot.post("noSuchAction", {}), 404, None)
    expect_error(requests.get(f"{base}/heartbeat", timeout=t.timeout + 5), {400, 404, 405}, None)
    expect_error(
        requests.post(
            f"{base}/register",
            data=b"{",
            headers={"robotId": robot.robot_id, "Content-Type": "application/json"},
            timeout=t.timeout + 5,
        ),
        {400, 401},
        {10001, 10002},
    )
    expect_error(robot.upload("file", headers={**robot.headers(), "Content-Type": "text/plain"}), 400, None)
    expect_error(
        requests.post(
            f"{t.url}/design/personalfile", data=b"[", headers=robot.headers(), timeout=t.timeout + 5
        ),
        {400, 403},
        None,
    )


@rule("HTTP-ENV-02", "A body over 1 MiB is refused with 413 (or 400) and an envelope, never 5xx (§3, §5)")
def http_oversize(t: Target) -> None:
    robot = registered_http(t, "big")
    line = {"content": "x" * 60000, "logAt": 1700000000000, "logLevel": 0}
    body = {"runInstanceId": t.run_id(), "logs": [line] * (MiB // 60000 + 2)}
    expect_error(robot.post("reportLogs", body), {400, 413}, {10001, 10007})


@rule("HTTP-HB-01", "heartbeat answers {Action: None, Body: null} when nothing is pending (§3)")
def http_heartbeat(t: Target) -> None:
    robot = registered_http(t, "hb")
    for body in ({}, {"runInstanceId": ""}, {"metrics": {"cpu": 1, "memory": 2, "disk": 3}}):
        value = expect_ok(robot.post("heartbeat", body))
        check(value == {"Action": "None", "Body": None}, f"heartbeat {body}: {short(value)}")
    value = expect_ok(robot.post("heartbeat", data=b""))
    check(value.get("Action") == "None", f"heartbeat with an empty body: {short(value)}")


@rule("HTTP-HB-02", "X-Wait-Seconds: N holds an idle heartbeat about N s; outside 0-30 is 400 / 10001 (§3)")
def http_long_poll_idle(t: Target) -> None:
    robot = registered_http(t, "lp")
    start = time.monotonic()
    value = robot.heartbeat(wait=1.5)
    took = time.monotonic() - start
    check(value["Action"] == "None", f"idle long poll: {short(value)}")
    check(1.2 <= took <= 6, f"X-Wait-Seconds: 1.5 answered after {took:.2f}s")
    start = time.monotonic()
    robot.heartbeat(wait=0)
    check(time.monotonic() - start < 1.2, "X-Wait-Seconds: 0 did not answer at once")
    for bad in ("31", "-1", "soon"):
        expect_error(robot.post("heartbeat", {}, headers={"X-Wait-Seconds": bad}), 400, 10001)


@rule(
    "HTTP-RUN-01",
    "reportLogs/reportFinish/reportVideoRecord for an unknown run answer 400/404 and 10006 (§5)",
)
def http_unknown_run(t: Target) -> None:
    robot = registered_http(t, "norun")
    run = t.run_id()
    logs = [{"content": "x", "logAt": "2026-01-01T00:00:00Z", "logLevel": 0}]
    expect_error(robot.post("reportLogs", {"runInstanceId": run, "logs": logs}), {400, 404}, 10006)
    expect_error(robot.post("reportFinish", {"runInstanceId": run, "status": 0}), {400, 404}, 10006)
    expect_error(robot.post("reportVideoRecord", {"runInstanceId": run, "videoId": "f1"}), {400, 404}, 10006)


@rule("WS-RUN-01", "ReportLogs/ReportFinish/ReportVideoRecord for an unknown run get Error 10006 (§5)")
def ws_unknown_run(t: Target) -> None:
    robot = registered_ws(t, "norun")
    run = t.run_id()
    logs = [{"content": "x", "logAt": "2026-01-01T00:00:00Z", "logLevel": 0}]
    expect_code(robot, "ReportLogs", {"runInstanceId": run, "logs": logs}, {10006})
    expect_code(robot, "ReportVideoRecord", {"runInstanceId": run, "videoId": "f1"}, {10006})
