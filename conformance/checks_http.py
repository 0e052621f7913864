"""HTTP rules (protocol.md §3)."""

from __future__ import annotations

import time

import requests

from conformance.checks import MiB, registered_http, rule
from conformance.client import Failed, Target, check, expect_error, expect_ok, short
from protocol.secret import build_supplier_secret


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
