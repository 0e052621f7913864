"""The reference executor as a real process against a real node process (``live_node``)."""

from __future__ import annotations

import time

import pytest
import requests

from executor.samples.build import build_package, sample_path

pytestmark = pytest.mark.slow


def wait_robot_online(node, robot_id: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for robot in node.value("GET", "/robots")["items"]:
            if robot["robotId"] == robot_id and robot.get("online"):
                return robot
        time.sleep(0.2)
    raise AssertionError(f"robot {robot_id} did not come online")


@pytest.mark.parametrize("protocol", ["ws", "http"])
def test_meter_reading_sample_on_a_real_node(live_node, start_executor, tmp_path, protocol, monkeypatch):
    """A run started through the management API executes on the executor and succeeds with its logs;
    the robot delivers its summary to the user's personal folder. (Stop, failures, failover, restarts
    and video against a real node: test_real_node_runs.py and test_real_node_interruptions.py.)"""
    secret = live_node.add_supplier("ACME")
    monkeypatch.setenv("RPA_EXECUTOR_SECRET", secret)
    ex = start_executor(live_node.url, f"ref-{protocol}", protocol)
    wait_robot_online(live_node, f"ref-{protocol}")
    app_id = live_node.upload_app(build_package(sample_path()), "meter-reading")
    run_id = live_node.start_run(app_id, robotId=f"ref-{protocol}")
    run = live_node.wait_status(run_id, {"succeeded", "failed", "cancelled"}, timeout=90)
    assert run["status"] == "succeeded", (run, ex.output()[-3000:])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        logs = [x["content"] for x in live_node.value("GET", f"/runs/{run_id}/logs")["items"]]
        if "All tasks passed" in logs:
            break
        time.sleep(0.2)
    assert "Task ended: Validate Readings PASS" in logs
    assert any(t.startswith("Summary delivered to") for t in logs), logs
    assert any("decreasing" in t for t in logs), logs
    # The summary reached the personal folder of the user who started the run (admin), and a
    # checkpoint of the run was uploaded.
    files = [f for f in live_node.value("GET", "/me/files")["items"] if f["runInstanceId"] == run_id]
    assert [f["fileName"] for f in files] == ["meter-summary.csv"], files
    summary = requests.get(files[0]["downloadUrl"], timeout=30)
    assert summary.status_code == 200 and b"M-1002" in summary.content and b"INVALID" in summary.content
    assert live_node.run(run_id)["checkpointId"]
