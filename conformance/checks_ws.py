"""WebSocket rules (protocol.md §1, §2)."""

from __future__ import annotations

import contextlib
import time

from simple_websocket import ConnectionClosed

from conformance.checks import MiB, expect_code, registered_ws, rule
from conformance.client import Target, check, expect_ok, short
from conformance.robots import WsRobot
from protocol.secret import build_supplier_secret


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


@rule("WS-RUN-01", "ReportLogs/ReportFinish/ReportVideoRecord for an unknown run get Error 10006 (§5)")
def ws_unknown_run(t: Target) -> None:
    robot = registered_ws(t, "norun")
    run = t.run_id()
    logs = [{"content": "x", "logAt": "2026-01-01T00:00:00Z", "logLevel": 0}]
    expect_code(robot, "ReportLogs", {"runInstanceId": run, "logs": logs}, {10006})
    expect_code(robot, "ReportVideoRecord", {"runInstanceId": run, "videoId": "f1"}, {10006})
