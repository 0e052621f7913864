"""The WebSocket transport over a real socket to a real node process (protocol.md §2, §6)."""

import time

import pytest

from tests.support import WsRobot, connect_ws, log_lines, seeded


@pytest.fixture
def setup(live_node):
    return seeded(live_node, arguments=[{"name": "who", "type": "string", "default": "world"}])


def test_run_goes_from_start_to_success_with_logs(setup):
    """Start → Execute (with a working signed package link) → logs → ReportFinish → succeeded, all recorded."""
    node, secret, app_id = setup
    robot = connect_ws(node, "bot-1", secret)
    run_id = node.start_run(app_id, arguments={"who": "国网"})
    execute = robot.expect("Execute")["body"]
    assert execute["runInstanceId"] == run_id
    assert execute["userName"] == "admin" and execute["userId"]
    assert execute["arguments"] == [{"name": "who", "type": "string", "value": "国网"}]
    import hashlib

    import requests

    pkg = requests.get(execute["packageDownloadUri"], timeout=10)
    assert pkg.status_code == 200 and hashlib.sha256(pkg.content).hexdigest() == execute["packageSha256"]
    robot.send("ReportLogs", {"runInstanceId": run_id, "logs": log_lines(30, "步骤")})
    robot.heartbeat(run_id)
    node.wait_status(run_id, "running")
    robot.send("ReportFinish", {"runInstanceId": run_id, "status": 0})
    run = node.wait_status(run_id, "succeeded")
    assert run["robotId"] == "bot-1" and run["finishedAt"]
    logs = node.value("GET", f"/runs/{run_id}/logs?limit=1000")
    assert logs["total"] == 30
    assert [x["content"] for x in logs["items"]] == [f"步骤 {i}" for i in range(30)]
    transitions = [
        (t["fromStatus"], t["toStatus"]) for t in node.value("GET", f"/runs/{run_id}/transitions")["items"]
    ]
    assert transitions == [
        ("", "pending"),
        ("pending", "dispatched"),
        ("dispatched", "running"),
        ("running", "succeeded"),
    ]


def test_report_finish_is_idempotent_and_final_is_final(setup):
    """A repeated ReportFinish, or a different status after the final one, changes nothing."""
    node, secret, app_id = setup
    robot = connect_ws(node, "bot-2", secret)
    run_id = node.start_run(app_id)
    robot.expect("Execute")
    robot.send("ReportFinish", {"runInstanceId": run_id, "status": 2, "errorCode": 7})
    robot.send("ReportFinish", {"runInstanceId": run_id, "status": 2, "errorCode": 7})
    robot.send("ReportFinish", {"runInstanceId": run_id, "status": 0})
    run = node.wait_status(run_id, "failed")
    time.sleep(0.3)
    run = node.run(run_id)
    assert run["status"] == "failed" and run["errorCode"] == 7
    finals = [
        t for t in node.value("GET", f"/runs/{run_id}/transitions")["items"] if t["toStatus"] == "failed"
    ]
    assert len(finals) == 1


def test_queued_run_is_dispatched_when_a_robot_connects(setup):
    """No robot free: the run waits as pending and goes out the moment one registers."""
    node, secret, app_id = setup
    run_id = node.start_run(app_id)
    assert node.run(run_id)["status"] == "pending"
    robot = connect_ws(node, "late-bot", secret)
    assert robot.expect("Execute")["body"]["runInstanceId"] == run_id
    assert node.run(run_id)["status"] == "dispatched"


def test_busy_robot_gets_the_next_run_after_finishing(setup):
    """One robot, two runs: the second is queued and dispatched right after the first finishes."""
    node, secret, app_id = setup
    robot = connect_ws(node, "solo", secret)
    first, second = node.start_run(app_id), node.start_run(app_id)
    assert robot.expect("Execute")["body"]["runInstanceId"] == first
    assert node.run(second)["status"] == "pending"
    robot.send("ReportFinish", {"runInstanceId": first, "status": 0})
    assert robot.expect("Execute")["body"]["runInstanceId"] == second


def test_stop_sends_stop_and_cancel_is_reported(setup):
    """Stop on a running run: status stopping, Stop frame down, ReportFinish 1 → cancelled."""
    node, secret, app_id = setup
    robot = connect_ws(node, "stopper", secret)
    run_id = node.start_run(app_id)
    robot.expect("Execute")
    robot.heartbeat(run_id)
    node.wait_status(run_id, "running")
    assert node.value("POST", f"/runs/{run_id}/stop")["status"] == "stopping"
    assert robot.expect("Stop").get("body") is None
    robot.send("ReportFinish", {"runInstanceId": run_id, "status": 1})
    node.wait_status(run_id, "cancelled")


def test_license_is_sent_on_register_and_on_binding(setup):
    """A bound license reaches the robot with SendLicense (at register, and when bound later)."""
    node, secret, _app = setup
    robot = connect_ws(node, "licensed", secret)
    node.value(
        "POST", "/licenses", json={"name": "L1", "content": "LICENSE-CONTENT-1", "robotId": "licensed"}
    )
    assert robot.expect("SendLicense")["body"] == {"licenseContent": "LICENSE-CONTENT-1"}
    robot.close()
    time.sleep(0.2)
    again = WsRobot(node, "licensed", "acme", secret)
    again.register()
    assert again.expect("SendLicense")["body"]["licenseContent"] == "LICENSE-CONTENT-1"
    assert "LICENSE-CONTENT-1" not in node.api("GET", "/licenses").text


def test_errors_keep_the_connection_open(setup):
    """Bad frames get Error 10001/10003/10006 and the connection stays usable."""
    node, secret, app_id = setup
    robot = WsRobot(node, "careful", "acme", secret)
    robot.heartbeat()
    assert robot.expect("Error")["body"]["errorCode"] == 10003
    robot.register()
    robot.ws.send("{not json")
    assert robot.expect("Error")["body"]["errorCode"] == 10001
    robot.send("Dance", {})
    err = robot.expect("Error")["body"]
    assert err["errorCode"] == 10001 and "action" in err["message"]
    robot.send(
        "ReportLogs",
        {"runInstanceId": "r_x", "logs": [{"content": "x", "logAt": "2026-01-01", "logLevel": 9}]},
    )
    err = robot.expect("Error")["body"]
    assert err["errorCode"] == 10001 and "logs[0].logLevel" in err["message"]
    robot.send("ReportLogs", {"runInstanceId": "r_not_mine", "logs": log_lines(1)})
    assert robot.expect("Error")["body"]["errorCode"] == 10006
    robot.send("ReportVideoRecord", {"runInstanceId": "r_not_mine", "videoId": "f_x"})
    assert robot.expect("Error")["body"]["errorCode"] == 10006
    robot.heartbeat()
    run_id = node.start_run(app_id, robotId="careful")
    assert robot.expect("Execute")["body"]["runInstanceId"] == run_id


def test_body_may_be_an_object(setup):
    """The node accepts ``body`` as a JSON object as well as a string holding JSON."""
    node, secret, app_id = setup
    robot = connect_ws(node, "obj-body", secret)
    run_id = node.start_run(app_id)
    robot.expect("Execute")
    import json

    robot.ws.send(json.dumps({"action": "ReportFinish", "body": {"runInstanceId": run_id, "status": 0}}))
    node.wait_status(run_id, "succeeded")


def test_register_refusals(setup):
    """Bad secret, replayed nonce and unknown supplier get Error 10002 and the connection is closed."""
    node, secret, _ = setup
    from protocol.secret import build_supplier_secret

    bad = WsRobot(node, "intruder", "acme", "wrong-secret")
    bad.register()
    assert bad.expect("Error")["body"]["errorCode"] == 10002
    value = build_supplier_secret("replay", "acme", secret)
    first = WsRobot(node, "replay", "acme", secret)
    first.send("Register", {"supplierCode": "acme", "supplierSecret": value})
    first.heartbeat()
    assert first.recv(0.5) is None  # accepted: nothing comes back
    first.close()
    second = WsRobot(node, "replay", "acme", secret)
    second.send("Register", {"supplierCode": "acme", "supplierSecret": value})
    err = second.expect("Error")["body"]
    assert err["errorCode"] == 10002 and "replay" in err["message"]
    stale = WsRobot(node, "skewed", "acme", secret)
    stale.send(
        "Register",
        {
            "supplierCode": "acme",
            "supplierSecret": build_supplier_secret("skewed", "acme", secret, now=time.time() - 900),
        },
    )
    assert stale.expect("Error")["body"]["errorCode"] == 10002


def test_duplicate_live_connection_is_refused_but_stale_one_is_replaced(setup):
    """A second connection for a live robot gets 10000; after the first goes silent, a new one takes over."""
    node, secret, app_id = setup
    first = connect_ws(node, "twin", secret)
    time.sleep(1.2)  # let the coalesced last-seen reach the database
    second = WsRobot(node, "twin", "acme", secret)
    second.register()
    assert second.expect("Error")["body"]["errorCode"] == 10000
    # The first connection stops heart-beating (a dead TCP session): after 1.5 intervals it is stale.
    time.sleep(2.0)
    third = WsRobot(node, "twin", "acme", secret)
    third.register()
    third.heartbeat()
    assert third.recv(0.5) is None
    run_id = node.start_run(app_id, robotId="twin")
    assert third.expect("Execute")["body"]["runInstanceId"] == run_id
    first.close()


def test_each_websocket_holds_one_descriptor(live_node):
    """simple-websocket dup()s the socket under gevent's server; the node stops that, so 10,000
    executors need 10,000 descriptors, not 20,000."""
    import os

    from tests.support import WsRobot

    node, secret, _app_id = seeded(live_node)
    fds = f"/proc/{node.proc.pid}/fd"

    def sockets() -> int:  # database files and logs come and go; count sockets only
        count = 0
        for fd in os.listdir(fds):
            try:
                count += os.readlink(f"{fds}/{fd}").startswith("socket:")
            except FileNotFoundError:  # closed meanwhile
                pass
        return count

    warm = [connect_ws(node, f"warm-{i}", secret) for i in range(3)]
    before = sockets()
    robots = [WsRobot(node, f"fd-{i}", "acme", secret) for i in range(20)]
    for robot in robots:
        robot.register()
    held = sockets() - before
    robots += warm
    for robot in robots:
        robot.close()
    # Other sockets of the node (API keep-alives from the set-up) may close meanwhile: the bound that
    # matters is the upper one (a dup per WebSocket would make it 40).
    assert 10 <= held < 30, f"20 WebSockets hold {held} descriptors"


def test_confirm_answers_a_heartbeat_after_the_logs_before_it_are_stored(setup):
    """Extension: a Heartbeat with ``confirm`` is answered ``Confirm`` once every frame sent before it
    is handled, so the lines it vouches for are already readable; a bad token is named in 10001."""
    node, secret, app_id = setup
    robot = connect_ws(node, "confirming", secret)
    run_id = node.start_run(app_id)
    robot.expect("Execute")
    for batch in range(5):
        robot.send("ReportLogs", {"runInstanceId": run_id, "logs": log_lines(200, f"b{batch}")})
    robot.send("Heartbeat", {"runInstanceId": run_id, "confirm": "c1-7"})
    assert robot.expect("Confirm")["body"] == {"confirm": "c1-7"}
    assert node.value("GET", f"/runs/{run_id}/logs?limit=1")["total"] == 1000  # no wait needed
    robot.send("Heartbeat", {"runInstanceId": run_id, "confirm": "bad token!"})
    error = robot.expect("Error")["body"]
    assert error["errorCode"] == 10001 and "confirm" in error["message"]
    robot.send("Heartbeat", {"runInstanceId": run_id})  # no token, no answer
    robot.send("Heartbeat", {"runInstanceId": run_id, "confirm": "c1-8"})
    assert robot.expect("Confirm")["body"] == {"confirm": "c1-8"}  # connection kept after the 10001
