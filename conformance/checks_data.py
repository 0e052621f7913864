"""Rules on what executors send: RunInstanceLog validation (§2, §5) and files (§4).

Log rules run on both transports. With admin credentials they report into a real run of the robot
(valid input must be accepted); without, into a run id that does not exist (valid input must pass
validation and then be refused only as an unknown run, 10006).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

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
from conformance.client import Target, check, expect_error, expect_ok, short
from conformance.robots import HttpRobot, WsRobot
from protocol.secret import build_supplier_secret

KiB = 1024


def log_targets(t: Target, tag: str) -> list[tuple[WsRobot | HttpRobot, str, int | None]]:
    """(robot, runInstanceId, code that valid input gets) for each transport."""
    if t.admin is None:
        return [
            (registered_ws(t, tag + "-ws"), t.run_id(), 10006),
            (registered_http(t, tag + "-http"), t.run_id(), 10006),
        ]
    ws, ws_run, _ = ws_with_run(t, tag + "-ws")
    http, http_run, _ = http_with_run(t, tag + "-http")
    return [(ws, ws_run, None), (http, http_run, None)]


def line(**fields: Any) -> dict:
    return {"content": "conformance", "logAt": "2026-11-28T10:00:00+08:00", "logLevel": 0, **fields}


def accepted(robot: WsRobot | HttpRobot, run: str, want: int | None, logs: list, what: str) -> None:
    code, hint = report(robot, "ReportLogs", {"runInstanceId": run, "logs": logs})
    label = "WS" if isinstance(robot, WsRobot) else "HTTP"
    check(code == want, f"{label} {what}: got {code or 'success'} {hint!r}, expected {want or 'success'}")


def refused(robot: WsRobot | HttpRobot, run: str, logs: Any, field: str) -> None:
    expect_code(robot, "ReportLogs", {"runInstanceId": run, "logs": logs}, {10001}, field)


@rule("LOG-01", "RunInstanceLog.logLevel must be 0, 1 or 2; anything else gets 10001 naming logLevel (§5)")
def log_level(t: Target) -> None:
    for robot, run, want in log_targets(t, "level"):
        accepted(robot, run, want, [line(logLevel=0), line(logLevel=1), line(logLevel=2)], "logLevel 0/1/2")
        for bad in (3, -1, "warn", True, 1.5, None):
            refused(robot, run, [line(logLevel=bad)], "logLevel")


@rule("LOG-02", "logAt accepts ISO 8601 (offset, Z, naive) and epoch ms; anything else gets 10001 (§5)")
def log_at(t: Target) -> None:
    good = [
        "2026-11-28T10:00:00+08:00",
        "2026-11-28T02:00:00Z",
        "2026-11-28T10:00:00.250",
        "2026-11-28T10:00:00.123456+08:00",
        1764295200000,
        1764295200123,
    ]
    for robot, run, want in log_targets(t, "logat"):
        for value in good:
            accepted(robot, run, want, [line(logAt=value)], f"logAt {value!r}")
        for bad in ("yesterday", "2026-13-45T00:00:00", "", None, True, {"at": 1}):
            refused(robot, run, [line(logAt=bad)], "logAt")


@rule("LOG-03", "ReportLogs holds 1-1000 items: 0 and 1001 get 10001, 1000 are accepted (§2)")
def log_count(t: Target) -> None:
    for robot, run, want in log_targets(t, "count"):
        refused(robot, run, [], "logs")
        refused(robot, run, [line(content=f"n{i}") for i in range(1001)], "logs")
        accepted(robot, run, want, [line(content=f"n{i}") for i in range(1000)], "1000 lines")


@rule("LOG-04", "content, logAt, logLevel are required and content is at most 64 KiB, else 10001 (§5)")
def log_fields(t: Target) -> None:
    for robot, run, want in log_targets(t, "fields"):
        for field in ("content", "logAt", "logLevel"):
            item = line()
            del item[field]
            refused(robot, run, [item], field)
        refused(robot, run, [line(content="x" * (64 * KiB + 1))], "content")
        refused(robot, run, [line(content=None)], "content")
        refused(robot, run, ["just text"], "logs")
        expect_code(robot, "ReportLogs", {"logs": [line()]}, {10001}, "runInstanceId")
        accepted(robot, run, want, [line(content="x" * (64 * KiB), screenshot=None)], "content of 64 KiB")


@rule(
    "LOG-05",
    "logAt at the ends of the calendar or beyond gets 10001 (or is accepted), never 19999/5xx (§3, §5)",
)
def log_at_extremes(t: Target) -> None:
    extremes = [
        "0001-01-01T00:00:00",
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-23:59",
        "9999-12-31T23:59:59.999999",
        253402300799999,
        -1,
        10**30,
    ]
    for robot, run, want in log_targets(t, "extreme"):
        for value in extremes:
            code, hint = report(robot, "ReportLogs", {"runInstanceId": run, "logs": [line(logAt=value)]})
            label = "WS" if isinstance(robot, WsRobot) else "HTTP"
            check(
                code in (want, 10001),
                f"{label} logAt {value!r}: got {code} {hint!r}, expected 10001 or {want}",
            )


# --- files (§4) ------------------------------------------------------------------------------------------


def tamper(url: str, **change: str) -> str:
    """``url`` with its ``token`` query value altered or replaced.

    The altered character is a few places from the end: the last character of unpadded base64 may
    carry only ignored bits, so flipping it need not change the decoded signature.
    """
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    token = query.get("token", "")
    if len(token) > 6:
        i = len(token) - 6
        token = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]
    query["token"] = change.get("token", token)
    if change.get("token") == "":
        del query["token"]
    return urlunsplit(parts._replace(query=urlencode(query)))


def upload_ok(
    robot: HttpRobot,
    source: str = "file",
    content: bytes = b"conformance",
    name: str = "c.txt",
    headers: dict | None = None,
) -> dict:
    value = expect_ok(robot.upload(source, content, name, headers))
    missing = [k for k in ("fileId", "fileName", "fileUrl") if not isinstance(value.get(k), str)]
    check(not missing, f"upload to {source}: resultValue misses {missing} ({short(value)})")
    return value


@rule("FILE-UP-01", "Anonymous uploads, or with a wrong robotConnectId, get 401 (§4)")
def file_anonymous(t: Target) -> None:
    robot = registered_http(t, "anon")
    expect_error(robot.upload("file", headers={}), 401, None)
    expect_error(
        robot.upload("file", headers={"robotId": robot.robot_id, "robotConnectId": "c_wrong"}), 401, None
    )


@rule(
    "FILE-UP-02", "A robot uploads a file and gets {fileId, fileName, fileUrl}; fileUrl is a plain GET (§4)"
)
def file_upload_download(t: Target) -> None:
    robot = registered_http(t, "up")
    content = "conformance ✓ 中文 文件\n".encode() * 50
    value = upload_ok(robot, "file", content, "报告.txt")
    check(value["fileName"] == "报告.txt", f"fileName {value['fileName']!r}, expected the original name")
    check(
        value["fileUrl"].startswith(("http://", "https://")), f"fileUrl is not absolute: {value['fileUrl']}"
    )
    resp = requests.get(value["fileUrl"], timeout=t.timeout + 10)
    check(resp.status_code == 200, f"GET fileUrl: HTTP {resp.status_code}")
    check(resp.content == content, "GET fileUrl: content differs from the upload")
    for source in ("demand", "icon"):
        upload_ok(robot, source, b"\x89PNG\r\n\x1a\n" + bytes(16), "a.png")


@rule(
    "FILE-UP-03",
    "A WebSocket robot uploads with robotId + supplierSecret headers; a bad secret gets 401 (§4)",
)
def file_ws_upload(t: Target) -> None:
    ws = registered_ws(t, "wsup")
    uploader = HttpRobot(t, ws.robot_id, ws.supplier, ws.secret)
    t.opened.append(uploader)
    fresh = build_supplier_secret(ws.robot_id, ws.supplier, ws.secret)
    upload_ok(uploader, headers={"robotId": ws.robot_id, "supplierSecret": fresh})
    expect_error(uploader.upload(headers={"robotId": ws.robot_id, "supplierSecret": fresh}), 401, None)
    bad = build_supplier_secret(ws.robot_id + "x", ws.supplier, ws.secret)
    expect_error(uploader.upload(headers={"robotId": ws.robot_id, "supplierSecret": bad}), 401, None)


@rule("FILE-UP-04", "An unknown upload source or a missing 'file' field is refused with an envelope (§4)")
def file_bad_source(t: Target) -> None:
    robot = registered_http(t, "src")
    expect_error(robot.upload("../etc"), {400, 404}, None)
    expect_error(robot.upload("nosuchsource"), {400, 404}, None)
    resp = requests.post(
        f"{t.url}/v1/file/file/upload",
        files={"other": ("a", b"a")},
        headers=robot.headers(),
        timeout=t.timeout + 5,
    )
    expect_error(resp, 400, None)


@rule("FILE-DL-01", "A tampered, missing or other file's download token gets 403 (§4)")
def file_tampered(t: Target) -> None:
    robot = registered_http(t, "dl")
    one, two = upload_ok(robot, content=b"one"), upload_ok(robot, content=b"two")
    for url in (tamper(one["fileUrl"]), tamper(one["fileUrl"], token=""), tamper(one["fileUrl"], token="x")):
        expect_error(requests.get(url, timeout=t.timeout + 5), 403, None)
    token = parse_qs(urlsplit(two["fileUrl"]).query)["token"][0]
    expect_error(requests.get(tamper(one["fileUrl"], token=token), timeout=t.timeout + 5), 403, None)


@rule("FILE-PF-01", "personalfile for a run the robot never executed gets 403 (§4)")
def personal_file_unknown_run(t: Target) -> None:
    robot = registered_http(t, "pf")
    file_id = upload_ok(robot)["fileId"]
    resp = requests.post(
        f"{t.url}/design/personalfile",
        headers=robot.headers(),
        timeout=t.timeout + 5,
        json={"fileId": file_id, "fileName": "a.txt", "runInstanceId": t.run_id()},
    )
    expect_error(resp, 403, None)
