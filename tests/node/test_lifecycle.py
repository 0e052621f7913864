"""Run life over time (protocol.md §6): lost executors, failover, timeouts, node crash and drain.

The node runs with a 1 s heartbeat interval here, so "3 missed heartbeats" is 3 s.
"""

import signal
import time

import pytest
import simple_websocket

from tests.support import HttpRobot, WsRobot, connect_ws, log_lines, package_zip, seeded


@pytest.fixture
def setup(live_node):
    return seeded(live_node)


def test_lost_executor_interrupts_its_run(setup):
    """No heartbeat for 3 intervals: robot offline, run interrupted, with the cause recorded."""
    node, secret, app_id = setup
    robot = connect_ws(node, "fragile", secret)
    run_id = node.start_run(app_id)
    robot.expect("Execute")
    robot.heartbeat(run_id)
    node.wait_status(run_id, "running")
    run = node.wait_status(run_id, "interrupted", timeout=10)  # silence from now on
    assert "no heartbeat" in run["cause"]
    assert node.value("GET", "/robots/fragile")["online"] is False
    robot.close()


def test_failover_requeues_on_another_robot_with_the_checkpoint(setup):
    """An interrupted run with failover becomes attempt 2 on another robot, carrying its checkpoint."""
    node, secret, app_id = setup
    first = HttpRobot(node, "first", "acme", secret)
    first.register()
    run_id = node.start_run(app_id, failover=True, maxAttempts=2, robotId=None)
    assert first.heartbeat()["Action"] == "Execute"
    first.heartbeat(run_id)
    import requests

    up = requests.post(
        f"{node.url}/v1/file/checkpoint/upload",
        headers=first.headers(),
        data={"runInstanceId": run_id},
        files={"file": ("cp.json", b'{"done": ["A"]}')},
        timeout=10,
    )
    assert up.status_code == 200, up.text
    checkpoint_id = up.json()["resultValue"]["fileId"]
    assert node.run(run_id)["checkpointId"] == checkpoint_id
    # "first" dies; "second" is alive and gets attempt 2.
    second = WsRobot(node, "second", "acme", secret)
    second.register()
    deadline = time.monotonic() + 12
    execute = None
    while execute is None and time.monotonic() < deadline:
        second.heartbeat()
        frame = second.recv(0.5)
        if frame and frame["action"] == "Execute":
            execute = frame["body"]
    assert execute is not None, "attempt 2 was not dispatched"
    assert execute["runInstanceId"] == run_id and execute["attempt"] == 2
    cp = requests.get(execute["checkpointUri"], timeout=10)
    assert cp.status_code == 200 and cp.content == b'{"done": ["A"]}'
    second.send("ReportFinish", {"runInstanceId": run_id, "status": 0})
    run = node.wait_status(run_id, "succeeded")
    assert run["attempt"] == 2 and run["robotId"] == "second"
    steps = [(t["toStatus"], t["attempt"]) for t in node.value("GET", f"/runs/{run_id}/transitions")["items"]]
    assert ("interrupted", 1) in steps and ("pending", 2) in steps and ("succeeded", 2) in steps
    # The lost robot's late report is refused: the run is no longer its own.
    late = first.post("reportLogs", {"runInstanceId": run_id, "logs": log_lines(1)})
    assert late.status_code in (400, 401)


def test_dispatch_timeout(make_node):
    """A run dispatched to a robot that never starts it times out, and the robot is told to stop."""
    node = make_node(env={"RPA_DISPATCH_TIMEOUT": "1.5"})
    secret = node.add_supplier("acme")
    app_id = node.upload_app(package_zip(), "hello")
    robot = HttpRobot(node, "sleepy", "acme", secret)
    robot.register()
    run_id = node.start_run(app_id)
    run = None
    # The robot keeps heart-beating but never names the run (it ignores the Execute it was handed).
    for _ in range(40):
        robot.heartbeat()
        run = node.run(run_id)
        if run["status"] == "timed_out":
            break
        time.sleep(0.2)
    assert run["status"] == "timed_out" and "dispatch timeout" in run["cause"]


def test_run_timeout_sends_stop(setup):
    """A run past its own timeoutSeconds becomes timed_out and Stop is sent."""
    node, secret, app_id = setup
    robot = connect_ws(node, "slow", secret)
    run_id = node.start_run(app_id, timeoutSeconds=1)
    robot.expect("Execute")
    robot.heartbeat(run_id)
    stop = None
    deadline = time.monotonic() + 8
    while stop is None and time.monotonic() < deadline:
        robot.heartbeat(run_id)
        frame = robot.recv(0.3)
        if frame and frame["action"] == "Stop":
            stop = frame
    assert stop is not None
    run = node.run(run_id)
    assert run["status"] == "timed_out" and "run timeout" in run["cause"]
    robot.send("ReportFinish", {"runInstanceId": run_id, "status": 1})
    time.sleep(0.3)
    assert node.run(run_id)["status"] == "timed_out"  # final is final
    assert node.value("GET", "/robots/slow")["runInstanceId"] is None  # but the robot is free again


def test_sigkill_loses_no_acknowledged_log_and_reconciles_runs(make_node):
    """Kill -9 the node: every acknowledged log line survives; the in-flight run is reconciled on return."""
    # A long heartbeat interval: the robot is not yet "lost" when the node is back.
    node = make_node(env={"RPA_HEARTBEAT_INTERVAL": "10"})
    secret = node.add_supplier("acme")
    app_id = node.upload_app(package_zip(), "hello")
    robot = HttpRobot(node, "durable", "acme", secret)
    robot.register()
    run_id = node.start_run(app_id)
    robot.heartbeat()
    acked = 0
    for batch in range(20):
        r = robot.post("reportLogs", {"runInstanceId": run_id, "logs": log_lines(50, f"b{batch}")})
        assert r.status_code == 200
        acked += 50
    node.kill()
    node.start()
    assert node.value("GET", f"/runs/{run_id}/logs?limit=1")["total"] == acked
    assert node.run(run_id)["status"] == "running"
    # The executor comes back and says it runs nothing: the run is reconciled, not left running.
    robot.register()
    robot.heartbeat()
    run = node.wait_status(run_id, {"interrupted"}, timeout=10)
    assert "no longer runs" in run["cause"]


def test_sigkill_with_no_executor_coming_back(setup):
    """After a crash, a run whose executor never returns is interrupted by the heartbeat rule."""
    node, secret, app_id = setup
    robot = connect_ws(node, "gone", secret)
    run_id = node.start_run(app_id)
    robot.expect("Execute")
    robot.heartbeat(run_id)
    node.wait_status(run_id, "running")
    node.kill()
    robot.close()
    node.start()
    run = node.wait_status(run_id, "interrupted", timeout=10)
    assert "no heartbeat" in run["cause"]


def test_a_node_down_longer_than_the_offline_period_does_not_interrupt_returning_executors(make_node):
    """The node is down for more than 3 heartbeat intervals: an executor that reconnects within one
    offline period of the node's return keeps its run (the node's absence is not the executor's);
    one that never returns is interrupted after that period."""
    node = make_node(env={"RPA_HEARTBEAT_INTERVAL": "2"})  # offline after 6 s of silence
    node, secret, app_id = seeded(node)
    back, gone = connect_ws(node, "back", secret), connect_ws(node, "gone", secret)
    runs = {}
    for robot in (back, gone):
        runs[robot.robot_id] = node.start_run(app_id, robotId=robot.robot_id)
        robot.expect("Execute")
        robot.heartbeat(runs[robot.robot_id])
        node.wait_status(runs[robot.robot_id], "running")
    node.kill()
    back.close()
    gone.close()
    time.sleep(7)  # longer than the offline period
    node.start()
    started = time.monotonic()
    back = WsRobot(node, "back", "acme", secret)
    back.register()
    while node.run(runs["gone"])["status"] != "interrupted":  # "back" keeps heartbeating meanwhile
        assert time.monotonic() - started < 20, "the silent executor's run was never interrupted"
        back.heartbeat(runs["back"])
        time.sleep(0.5)
    assert time.monotonic() - started >= 5, "interrupted before the returning executors had a chance"
    assert "no heartbeat" in node.run(runs["gone"])["cause"]
    assert node.run(runs["back"])["status"] == "running"


def test_sigterm_drains_gracefully(setup):
    """SIGTERM: executor sockets are closed with 'going away' (1001) and the process exits cleanly."""
    node, secret, _ = setup
    robot = connect_ws(node, "drained", secret)
    time.sleep(0.2)
    assert node.stop(signal.SIGTERM) == 0
    with pytest.raises(simple_websocket.ConnectionClosed) as closed:
        for _ in range(20):
            robot.ws.receive(0.5)
    assert closed.value.reason == 1001
