"""The HTTP transport, files and personal folders over real sockets (protocol.md §3, §4)."""

import time

import pytest
import requests

from protocol.secret import build_supplier_secret
from tests.support import HttpRobot, log_lines, seeded


@pytest.fixture
def setup(live_node):
    return seeded(live_node)


def test_http_robot_runs_a_run_end_to_end(setup):
    """register → heartbeat hands out Execute → reportLogs → reportFinish → succeeded."""
    node, secret, app_id = setup
    robot = HttpRobot(node, "h-1", "acme", secret)
    assert robot.register()["licenseContent"] is None
    assert robot.heartbeat() == {"Action": "None", "Body": None}
    run_id = node.start_run(app_id)
    cmd = robot.heartbeat()
    assert cmd["Action"] == "Execute" and cmd["Body"]["runInstanceId"] == run_id
    assert robot.heartbeat(run_id) == {"Action": "None", "Body": None}  # handed out once only
    r = robot.post("reportLogs", {"runInstanceId": run_id, "logs": log_lines(10)})
    assert r.status_code == 200 and r.json() == {"successful": True, "resultHint": "ok", "resultValue": None}
    assert robot.post("reportFinish", {"runInstanceId": run_id, "status": 0}).status_code == 200
    assert node.run(run_id)["status"] == "succeeded"
    assert node.value("GET", f"/runs/{run_id}/logs")["total"] == 10


def test_long_poll_delivers_as_soon_as_a_run_starts(setup):
    """X-Wait-Seconds holds the heartbeat until a command arrives, then answers at once."""
    import threading

    node, secret, app_id = setup
    robot = HttpRobot(node, "h-poll", "acme", secret)
    robot.register()
    result = {}

    def poll():
        t0 = time.monotonic()
        result["cmd"] = robot.heartbeat(wait=10)
        result["at"] = time.monotonic() - t0

    t = threading.Thread(target=poll)
    t.start()
    time.sleep(0.5)
    started = time.monotonic()
    run_id = node.start_run(app_id)
    t.join(15)
    assert result["cmd"]["Action"] == "Execute" and result["cmd"]["Body"]["runInstanceId"] == run_id
    assert 0.4 < result["at"] < 3
    assert time.monotonic() - started < 2
    t0 = time.monotonic()
    assert robot.heartbeat(wait=1)["Action"] == "None"
    assert time.monotonic() - t0 >= 0.9


def test_new_register_supersedes_the_old_connect_id(setup):
    """Calls with a superseded robotConnectId get 401 / 10000."""
    node, secret, _ = setup
    old = HttpRobot(node, "h-twin", "acme", secret)
    old.register()
    new = HttpRobot(node, "h-twin", "acme", secret)
    new.register()
    r = old.post("heartbeat", {})
    assert r.status_code == 401 and r.json()["resultValue"] == {"errorCode": 10000}
    assert new.heartbeat()["Action"] == "None"


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "code"),
    [
        ("heartbeat", {}, {}, 401, 10003),  # not registered
        ("heartbeat", {}, {"robotConnectId": "c_forged"}, 401, 10003),  # never registered
        ("reportLogs", {"runInstanceId": "r", "logs": []}, None, 400, 10001),
        ("reportLogs", {"runInstanceId": "r_other", "logs": log_lines(1)}, None, 400, 10006),
        ("reportFinish", {"runInstanceId": "r_other", "status": 5}, None, 400, 10001),
        ("reportFinish", {"runInstanceId": "r_other", "status": 0}, None, 400, 10006),
        ("reportVideoRecord", {"runInstanceId": "r_other"}, None, 400, 10001),
        ("nope", {}, None, 404, 10404),
    ],
)
def test_http_errors_use_the_envelope(setup, path, body, headers, status, code):
    """Failures answer 4xx with resultValue.errorCode, never 5xx or HTML."""
    node, secret, _ = setup
    robot = HttpRobot(node, "h-err", "acme", secret)
    if headers is None:
        robot.register()
        headers = {}
    r = requests.post(
        f"{node.url}/robots/connect/{path}", json=body, headers={**robot.headers(), **headers}, timeout=10
    )
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json()["successful"] is False and r.json()["resultValue"]["errorCode"] == code


def test_video_only_after_finish(setup):
    """ReportVideoRecord is refused before ReportFinish and recorded after it."""
    node, secret, app_id = setup
    robot = HttpRobot(node, "h-vid", "acme", secret)
    robot.register()
    run_id = node.start_run(app_id)
    robot.heartbeat()
    up = requests.post(
        f"{node.url}/v1/file/video/upload",
        headers=robot.headers(),
        files={"file": ("run.mkv", b"\x1a\x45\xdf\xa3 fake video")},
        timeout=10,
    )
    video_id = up.json()["resultValue"]["fileId"]
    r = robot.post("reportVideoRecord", {"runInstanceId": run_id, "videoId": video_id})
    assert r.status_code == 400 and "after ReportFinish" in r.json()["resultHint"]
    robot.post("reportFinish", {"runInstanceId": run_id, "status": 0})
    assert robot.post("reportVideoRecord", {"runInstanceId": run_id, "videoId": video_id}).status_code == 200
    assert node.run(run_id)["videoId"] == video_id


def test_file_upload_signed_links_and_personal_folder(setup):
    """Upload as robot (connect id or supplier secret), fetch by signed link, tamper → 403, personal folder rules."""
    node, secret, app_id = setup
    robot = HttpRobot(node, "h-file", "acme", secret)
    robot.register()
    anon = requests.post(f"{node.url}/v1/file/file/upload", files={"file": ("a.txt", b"x")}, timeout=10)
    assert anon.status_code == 401 and anon.json()["resultValue"]["errorCode"] in (10003, 10401)
    up = requests.post(
        f"{node.url}/v1/file/file/upload",
        headers=robot.headers(),
        files={"file": ("../../etc/抄表汇总.csv", "户号,读数\n1,2\n".encode())},
        timeout=10,
    )
    assert up.status_code == 200, up.text
    info = up.json()["resultValue"]
    assert info["fileName"] == "抄表汇总.csv"  # the name is kept, never used as a path
    got = requests.get(info["fileUrl"], timeout=10)
    assert got.status_code == 200 and got.content == "户号,读数\n1,2\n".encode()
    other_id = info["fileId"][:-1] + ("1" if info["fileId"][-1] != "1" else "2")
    tampered = info["fileUrl"].replace(info["fileId"], other_id, 1)
    assert requests.get(tampered, timeout=10).status_code in (403, 404)
    assert requests.get(info["fileUrl"][:-3] + "abc", timeout=10).status_code == 403
    # A WebSocket-style caller authenticates uploads with a fresh supplierSecret.
    ws_like = requests.post(
        f"{node.url}/v1/file/screenshot/upload",
        files={"file": ("s.png", b"png")},
        timeout=10,
        headers={"robotId": "h-file", "supplierSecret": build_supplier_secret("h-file", "acme", secret)},
    )
    assert ws_like.status_code == 200, ws_like.text
    bad_source = requests.post(
        f"{node.url}/v1/file/evil/upload", headers=robot.headers(), files={"file": ("a", b"x")}, timeout=10
    )
    assert bad_source.status_code in (400, 404) and bad_source.json()["resultValue"]["errorCode"] == 10001

    run_id = node.start_run(app_id)
    robot.heartbeat()

    def put(body):
        return requests.post(
            f"{node.url}/design/personalfile", json=body, headers=robot.headers(), timeout=10
        )

    assert put({"fileId": info["fileId"], "runInstanceId": run_id, "userId": "999"}).status_code == 403
    assert put({"fileId": info["fileId"], "runInstanceId": "r_someone_else"}).status_code == 403
    ok = put({"fileId": info["fileId"], "fileName": "五月抄表汇总.csv", "runInstanceId": run_id})
    assert ok.status_code == 200, ok.text
    assert (
        ok.json()["resultValue"]["userId"] == node.run(run_id)["userName"]
        or ok.json()["resultValue"]["userId"]
    )


def test_pending_robot_is_refused_until_approved(make_node):
    """With approval by hand, a new robot is told 10004 and gets no runs until an admin enables it."""
    node = make_node(env={"RPA_APPROVE_NEW_ROBOTS": "true"})
    secret = node.add_supplier("acme")
    robot = HttpRobot(node, "h-new", "acme", secret)
    r = robot.post(
        "register", {"supplierCode": "acme", "supplierSecret": build_supplier_secret("h-new", "acme", secret)}
    )
    assert r.status_code == 403 and r.json()["resultValue"]["errorCode"] == 10004
    assert node.value("GET", "/robots/h-new")["state"] == "pending"
    node.value("POST", "/robots/h-new/state", json={"state": "enabled"})
    assert robot.register()["robotConnectId"]


def test_a_robot_waiting_in_a_long_poll_is_not_lost(setup):
    """A long poll longer than the lost-executor window keeps the robot online and its run alive."""
    node, secret, app_id = setup
    robot = HttpRobot(node, "h-patient", "acme", secret)
    robot.register()
    run_id = node.start_run(app_id)
    assert robot.heartbeat()["Action"] == "Execute"
    robot.heartbeat(run_id)
    node.wait_status(run_id, "running")
    assert robot.heartbeat(run_id, wait=5)["Action"] == "None"  # 5 s > 3 missed 1 s heartbeats
    assert node.run(run_id)["status"] == "running"
    assert node.value("GET", "/robots/h-patient")["online"] is True


def test_run_token_lets_a_package_file_for_its_own_run_only(setup):
    """Execute carries a run token; it authenticates uploads and the personal folder for that run only."""
    node, secret, app_id = setup
    robot = HttpRobot(node, "h-token", "acme", secret)
    robot.register()
    run_id = node.start_run(app_id)
    other = node.start_run(app_id)
    body = robot.heartbeat()["Body"]
    assert body["runInstanceId"] == run_id
    token = body["runToken"]
    headers = {"robotId": "h-token", "runToken": token}
    up = requests.post(
        f"{node.url}/v1/file/file/upload", headers=headers, files={"file": ("汇总.csv", b"a,b\n")}, timeout=10
    )
    assert up.status_code == 200, up.text
    file_id = up.json()["resultValue"]["fileId"]
    put = requests.post(
        f"{node.url}/design/personalfile", headers=headers, json={"fileId": file_id}, timeout=10
    )
    assert put.status_code == 200, put.text
    assert put.json()["resultValue"]["fileId"] == file_id
    assert node.value("GET", "/me/files")["items"][0]["runInstanceId"] == run_id
    foreign = requests.post(
        f"{node.url}/design/personalfile",
        headers=headers,
        json={"fileId": file_id, "runInstanceId": other},
        timeout=10,
    )
    assert foreign.status_code == 403
    forged = requests.post(
        f"{node.url}/v1/file/file/upload",
        files={"file": ("x", b"x")},
        timeout=10,
        headers={"robotId": "h-token", "runToken": token[:-2] + "xx"},
    )
    assert forged.status_code == 401
    stolen = requests.post(
        f"{node.url}/v1/file/file/upload",
        files={"file": ("x", b"x")},
        timeout=10,
        headers={"robotId": "someone-else", "runToken": token},
    )
    assert stolen.status_code == 401
