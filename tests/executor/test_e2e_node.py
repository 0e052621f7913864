"""The reference executor as a real process against a real node process (``live_node``)."""

from __future__ import annotations

import time

import pytest

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
    """A run started through the management API executes on the executor and succeeds with its logs."""
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


def test_stop_through_the_api_cancels_the_run(live_node, start_executor, tmp_path, monkeypatch):
    """POST /runs/{id}/stop reaches the executor, which ends the run as cancelled."""
    from tests.executor.test_executor_process import make_package

    secret = live_node.add_supplier("ACME")
    monkeypatch.setenv("RPA_EXECUTOR_SECRET", secret)
    start_executor(live_node.url, "ref-stop", "ws", stop_grace_seconds=2.0)
    wait_robot_online(live_node, "ref-stop")
    app_id = live_node.upload_app(make_package(tmp_path, "*** Tasks ***\nA\n    Sleep    120\n"), "sleeper")
    run_id = live_node.start_run(app_id, robotId="ref-stop")
    live_node.wait_status(run_id, "running", timeout=30)
    live_node.value("POST", f"/runs/{run_id}/stop")
    assert live_node.wait_status(run_id, "cancelled", timeout=30)["status"] == "cancelled"
