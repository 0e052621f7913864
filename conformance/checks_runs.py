"""Rules that need runs, so admin credentials: the checker uploads a throwaway package for an engine
only its own supplier declares, starts runs on its own robots, and watches them through the API.
"""

from __future__ import annotations

import io
import threading
import time
import zipfile
from datetime import UTC, datetime

import requests

from conformance.checks import (
    expect_code,
    http_with_run,
    registered_http,
    registered_ws,
    report,
    rule,
    ws_with_run,
)
from conformance.checks_data import tamper, upload_ok
from conformance.client import Failed, Target, check, expect_error, expect_ok, short
from conformance.robots import HttpRobot, WsRobot
from protocol.secret import build_supplier_secret

FINAL = {"succeeded", "failed", "cancelled", "timed_out"}
SECRET_VALUE = "conformance-secret-不可见-42"


def check_execute_body(body: dict, run_id: str) -> None:
    """Table A.7: required fields present with the right types."""
    check(body.get("runInstanceId") == run_id, f"Execute.runInstanceId {body.get('runInstanceId')!r}")
    uri = body.get("packageDownloadUri")
    check(
        isinstance(uri, str) and uri.startswith(("http://", "https://")),
        f"Execute.packageDownloadUri is not an absolute URL: {uri!r}",
    )
    for name in ("userId", "userName"):
        check(isinstance(body.get(name), str) and body[name], f"Execute.{name} missing or not a string")
    args = body.get("arguments")
    check(args is None or isinstance(args, list), "Execute.arguments is not a list")
    for arg in args or []:
        check(
            isinstance(arg, dict) and all(isinstance(arg.get(k), str) for k in ("name", "type", "value")),
            f"Execute.arguments item is not {{name, type, value}} strings: {short(arg)}",
        )
    mode = body.get("videoRecordMode")
    check(mode in (None, 0, 1, 2), f"Execute.videoRecordMode {mode!r} not 0, 1 or 2")
    check(body.get("videoRecordRequired") in (None, True, False), "Execute.videoRecordRequired is not a bool")


def finish(robot: WsRobot | HttpRobot, run_id: str, status: int) -> None:
    code, hint = report(robot, "ReportFinish", {"runInstanceId": run_id, "status": status, "errorCode": None})
    check(code is None, f"ReportFinish status {status}: refused with {code} {hint!r}")


def final_transitions(t: Target, run_id: str) -> list[dict]:
    return [x for x in t.need_admin().transitions(run_id) if x.get("toStatus") in FINAL]


@rule(
    "RUN-EXE-01",
    "A run for a WebSocket robot arrives as Execute with the fields of table A.7 (§2)",
    needs_admin=True,
)
def ws_execute(t: Target) -> None:
    robot, run_id, body = ws_with_run(t, "exe")
    check_execute_body(body, run_id)
    finish(robot, run_id, 0)


@rule(
    "RUN-EXE-02", "An HTTP heartbeat hands out Execute (Body object) once, then None (§3)", needs_admin=True
)
def http_execute(t: Target) -> None:
    robot, run_id, body = http_with_run(t, "exe")
    check_execute_body(body, run_id)
    value = robot.heartbeat(run_id)
    check(value == {"Action": "None", "Body": None}, f"heartbeat after Execute: {short(value)}")
    finish(robot, run_id, 0)


@rule(
    "RUN-LP-01",
    "An HTTP heartbeat waiting with X-Wait-Seconds gets Execute as soon as the run starts (§3)",
    needs_admin=True,
)
def http_long_poll(t: Target) -> None:
    admin = t.need_admin()
    app_id = t.app_id()
    robot = registered_http(t, "lp", for_runs=True)
    started: dict = {}

    def start() -> None:
        time.sleep(0.5)
        try:
            started["id"] = admin.start_run(app_id, robot.robot_id)
        except Exception as exc:  # reported below
            started["error"] = exc
        started["at"] = time.monotonic()

    thread = threading.Thread(target=start, daemon=True)
    thread.start()
    value = robot.heartbeat(wait=15)
    answered = time.monotonic()
    thread.join(20)
    if "error" in started:
        raise Failed(f"could not start the run: {started['error']}")
    check(value["Action"] == "Execute", f"long poll answered {short(value)}, expected Execute")
    check(
        answered - started["at"] < 3,
        f"long poll answered {answered - started['at']:.1f}s after the run started",
    )
    finish(robot, started["id"], 0)


@rule(
    "RUN-PKG-01",
    "packageDownloadUri is a plain GET of the package; a tampered link gets 403 (§4)",
    needs_admin=True,
)
def package_download(t: Target) -> None:
    robot, run_id, body = ws_with_run(t, "pkg")
    resp = requests.get(body["packageDownloadUri"], timeout=t.timeout + 20)
    check(resp.status_code == 200, f"GET packageDownloadUri: HTTP {resp.status_code}")
    try:
        names = zipfile.ZipFile(io.BytesIO(resp.content)).namelist()
    except zipfile.BadZipFile:
        raise Failed("GET packageDownloadUri: not a zip") from None
    check("manifest.json" in names, f"package has no manifest.json ({names})")
    expect_error(requests.get(tamper(body["packageDownloadUri"]), timeout=t.timeout + 5), 403, None)
    finish(robot, run_id, 0)


@rule(
    "RUN-ARG-01",
    "A secret argument is in clear in Execute and masked in the management API (§5)",
    needs_admin=True,
)
def secret_argument(t: Target) -> None:
    args = [
        {"name": "greeting", "type": "string", "value": "你好"},
        {"name": "token", "type": "secret", "value": SECRET_VALUE},
    ]
    robot, run_id, body = ws_with_run(t, "arg", arguments=args)
    got = {a.get("name"): a.get("value") for a in body.get("arguments") or []}
    check(got.get("token") == SECRET_VALUE, f"Execute carries token={got.get('token')!r}, not the secret")
    check(got.get("greeting") == "你好", f"Execute carries greeting={got.get('greeting')!r}")
    shown = t.need_admin().http.get(f"{t.url}/api/v1/runs/{run_id}", timeout=t.timeout + 5).text
    check(SECRET_VALUE not in shown and "conformance-secret" not in shown, "GET /runs/{id} shows the secret")
    finish(robot, run_id, 0)


@rule("RUN-LIFE-01", "The first heartbeat naming a dispatched run makes it running (§6)", needs_admin=True)
def first_heartbeat(t: Target) -> None:
    admin = t.need_admin()
    robot, run_id, _ = ws_with_run(t, "life")
    robot.heartbeat(run_id)
    robot.no_error_before_probe("Heartbeat naming the run")
    admin.wait_status(run_id, {"running"})
    http, http_run, _ = http_with_run(t, "life")
    http.heartbeat(http_run)
    admin.wait_status(http_run, {"running"})
    finish(robot, run_id, 0)
    finish(http, http_run, 0)


def _iso_instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


@rule(
    "RUN-LOG-01",
    "Every accepted log line is readable through GET /runs/{id}/logs, text intact (§5, §6)",
    needs_admin=True,
)
def logs_visible(t: Target) -> None:
    admin = t.need_admin()
    texts = [
        "普通信息 info",
        "警告：磁盘 ⚠",
        'error "quoted" \\ back\nslash',
        "emoji 🤖✓",
        " padded ",
        "x" * 60000,
    ]
    for robot, run_id, _ in (ws_with_run(t, "logs"), http_with_run(t, "logs")):
        sent = [
            {"content": f"{i}:{text}", "logAt": 1764295200000 + i, "logLevel": i % 3}
            for i, text in enumerate(texts)
        ]
        sent += [
            {
                "content": f"batch {i}",
                "logAt": f"2026-11-28T11:{i // 60:02d}:{i % 60:02d}+08:00",
                "logLevel": 0,
            }
            for i in range(300)
        ]
        for chunk in (sent[:6], sent[6:156], sent[156:]):
            code, hint = report(robot, "ReportLogs", {"runInstanceId": run_id, "logs": chunk})
            check(code is None, f"ReportLogs refused: {code} {hint!r}")
        items = admin.logs(run_id)
        label = "WS" if isinstance(robot, WsRobot) else "HTTP"
        check(len(items) == len(sent), f"{label}: {len(sent)} lines sent, {len(items)} readable")
        got = sorted(x["content"] for x in items)
        want = sorted(x["content"] for x in sent)
        missing = [c for c in want if c not in set(got)]
        check(got == want, f"{label}: content differs, e.g. {short(missing[:1] or got[:1])}")
        by_content = {x["content"]: x for x in items}
        for i in range(len(texts)):
            item = by_content[sent[i]["content"]]
            expected = datetime.fromtimestamp((1764295200000 + i) / 1000, UTC)
            check(
                abs((_iso_instant(item["logAt"]) - expected).total_seconds()) < 0.002,
                f"{label}: epoch-ms logAt read back as {item['logAt']}",
            )
            check(item["logLevel"] == i % 3, f"{label}: logLevel read back as {item['logLevel']}")
        finish(robot, run_id, 0)


@rule(
    "EXT-CONFIRM-01",
    "A WS Heartbeat with 'confirm' gets Confirm once the ReportLogs before it are stored (§2, extension)",
    needs_admin=True,
)
def ws_confirm(t: Target) -> None:
    admin = t.need_admin()
    robot, run_id, _ = ws_with_run(t, "confirm")
    lines = [{"content": f"confirm {i}", "logAt": 1764295200000 + i, "logLevel": 0} for i in range(400)]
    for chunk in (lines[:200], lines[200:]):
        robot.send("ReportLogs", {"runInstanceId": run_id, "logs": chunk})
    robot.send("Heartbeat", {"runInstanceId": run_id, "confirm": "conf-1"})
    frame = robot.wait_action("Confirm")
    check(frame.get("body") == {"confirm": "conf-1"}, f"Confirm body {short(frame.get('body'))}")
    readable = len(admin.logs(run_id))  # read at once: the Confirm vouches for the lines
    check(readable == len(lines), f"Confirm came with {readable} of {len(lines)} lines readable")
    finish(robot, run_id, 0)


@rule(
    "RUN-FIN-01",
    "ReportFinish makes the run final exactly once; a repeat is ignored without error (§2, §6)",
    needs_admin=True,
)
def finish_once(t: Target) -> None:
    admin = t.need_admin()
    for robot, run_id, _ in (ws_with_run(t, "fin"), http_with_run(t, "fin")):
        robot.heartbeat(run_id)
        finish(robot, run_id, 0)
        admin.wait_status(run_id, {"succeeded"})
        finish(robot, run_id, 2)
        finish(robot, run_id, 0)
        run = admin.run(run_id)
        check(run["status"] == "succeeded", f"a repeated ReportFinish changed the run to {run['status']}")
        finals = final_transitions(t, run_id)
        check(len(finals) == 1, f"{len(finals)} final transitions recorded: {short(finals)}")


@rule(
    "RUN-FIN-02",
    "A ReportFinish errorCode beyond 64 bits is refused with 10001 or accepted, never 19999/5xx (§3, §5)",
    needs_admin=True,
)
def finish_huge_error_code(t: Target) -> None:
    admin = t.need_admin()
    for robot, run_id, _ in (ws_with_run(t, "fin2"), http_with_run(t, "fin2")):
        label = "WS" if isinstance(robot, WsRobot) else "HTTP"
        code, hint = report(robot, "ReportFinish", {"runInstanceId": run_id, "status": 2, "errorCode": 2**70})
        check(
            code in (None, 10001), f"{label} errorCode 2**70: got {code} {hint!r}, expected 10001 or success"
        )
        if code is not None:
            finish(robot, run_id, 2)
        admin.wait_status(run_id, {"failed"})


@rule(
    "RUN-VID-01",
    "ReportVideoRecord is refused with 10001 before ReportFinish and accepted after (§2)",
    needs_admin=True,
)
def video_after_finish(t: Target) -> None:
    admin = t.need_admin()
    for robot, run_id, _ in (ws_with_run(t, "vid"), http_with_run(t, "vid")):
        if isinstance(robot, WsRobot):
            uploader = HttpRobot(t, robot.robot_id, robot.supplier, robot.secret)
            t.opened.append(uploader)
            secret = build_supplier_secret(robot.robot_id, robot.supplier, robot.secret)
            video = upload_ok(
                uploader,
                "video",
                b"\x00\x00\x00\x18ftypmp42",
                "run.mp4",
                headers={"robotId": robot.robot_id, "supplierSecret": secret},
            )
        else:
            video = upload_ok(robot, "video", b"\x00\x00\x00\x18ftypmp42", "run.mp4")
        body = {"runInstanceId": run_id, "videoId": video["fileId"]}
        expect_code(robot, "ReportVideoRecord", body, {10001})
        finish(robot, run_id, 2)
        code, hint = report(robot, "ReportVideoRecord", body)
        check(code is None, f"ReportVideoRecord after ReportFinish refused: {code} {hint!r}")
        run = admin.run(run_id)
        check(
            run.get("videoId", video["fileId"]) == video["fileId"],
            f"run shows videoId {run.get('videoId')!r}",
        )


@rule(
    "RUN-STOP-01",
    "Stopping a run sends Stop (WS frame, HTTP Action Stop); ReportFinish 1 cancels it (§2, §3)",
    needs_admin=True,
)
def stop_run(t: Target) -> None:
    admin = t.need_admin()
    robot, run_id, _ = ws_with_run(t, "stop")
    robot.heartbeat(run_id)
    admin.wait_status(run_id, {"running"})
    admin.stop(run_id)
    frame = robot.wait_action("Stop")
    check(frame.get("body") in (None, {}, ""), f"Stop carries a body: {short(frame.get('body'))}")
    finish(robot, run_id, 1)
    admin.wait_status(run_id, {"cancelled"})

    http, http_run, _ = http_with_run(t, "stop")
    http.heartbeat(http_run)
    admin.wait_status(http_run, {"running"})
    admin.stop(http_run)
    value = http.heartbeat(http_run, wait=5)
    check(value["Action"] == "Stop", f"heartbeat after stop: {short(value)}")
    finish(http, http_run, 1)
    admin.wait_status(http_run, {"cancelled"})


@rule(
    "RUN-FOR-01",
    "A run executed by another robot is foreign: reports about it get 10006 (§5)",
    needs_admin=True,
)
def foreign_run(t: Target) -> None:
    owner, run_id, _ = ws_with_run(t, "owner")
    logs = [{"content": "not mine", "logAt": 1764295200000, "logLevel": 0}]
    for other in (registered_ws(t, "foreign", for_runs=True), registered_http(t, "foreign", for_runs=True)):
        expect_code(other, "ReportLogs", {"runInstanceId": run_id, "logs": logs}, {10006})
        expect_code(other, "ReportFinish", {"runInstanceId": run_id, "status": 2}, {10006})
        expect_code(other, "ReportVideoRecord", {"runInstanceId": run_id, "videoId": "f_x"}, {10006})
    check(t.need_admin().run(run_id)["status"] not in FINAL, "another robot's ReportFinish ended the run")
    finish(owner, run_id, 0)


@rule(
    "FILE-PF-02",
    "personalfile works for the robot's own run and user; another robot or user gets 403 (§4)",
    needs_admin=True,
)
def personal_file(t: Target) -> None:
    robot, run_id, body = http_with_run(t, "pf")
    file_id = upload_ok(robot)["fileId"]
    url = f"{t.url}/design/personalfile"
    ok = {"fileId": file_id, "fileName": "结果.txt", "runInstanceId": run_id}
    expect_ok(requests.post(url, json=ok, headers=robot.headers(), timeout=t.timeout + 5))
    expect_ok(
        requests.post(
            url, json={**ok, "userId": body["userId"]}, headers=robot.headers(), timeout=t.timeout + 5
        )
    )
    other_user = {**ok, "userId": body["userId"] + "-someone-else"}
    expect_error(
        requests.post(url, json=other_user, headers=robot.headers(), timeout=t.timeout + 5), 403, None
    )
    other = registered_http(t, "pf-other", for_runs=True)
    expect_error(requests.post(url, json=ok, headers=other.headers(), timeout=t.timeout + 5), 403, None)
    finish(robot, run_id, 0)
