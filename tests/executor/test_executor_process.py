"""The real executor process against the fake node: runs, stop, exit codes, reconnects, checkpoints."""

from __future__ import annotations

import json
import os
import time

import pytest

from executor import errors
from executor.samples.build import build_package, sample_path

pytestmark = pytest.mark.slow

STOPPABLE = """\
*** Settings ***
Library    Process
Library    Stubborn.py

*** Tasks ***
Long Task
    ${child}=    Start Process    sleep    300
    Write Pid    ${child.pid}
    Log    child started
    Ignore Term Signal    ${ignore_term}
    Sleep    120
"""

STUBBORN = """\
import os, signal

def write_pid(pid):
    with open(os.path.join(os.environ["RPA_OUTPUT_DIR"], "child.pid"), "w") as fh:
        fh.write(str(pid))

def ignore_term_signal(flag):
    if flag == "yes":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
"""


def make_package(tmp_path, robot: str, files: dict[str, str] | None = None, **manifest) -> bytes:
    folder = tmp_path / f"pkg-{abs(hash(robot)) % 10**8}"
    folder.mkdir(exist_ok=True)
    meta = {"name": "test", "version": "1", "engine": "robotframework", "entry": "tasks.robot", **manifest}
    (folder / "manifest.json").write_text(json.dumps(meta))
    (folder / "tasks.robot").write_text(robot)
    for name, text in (files or {}).items():
        (folder / name).write_text(text)
    return build_package(folder)


def registered(node, robot_id):
    return node.wait(lambda: any(r == robot_id for r, _ in node.registrations), 20)


@pytest.mark.parametrize("protocol", ["ws", "http"])
def test_sample_package_runs_and_delivers_summary(fake_node, start_executor, protocol):
    """The meter-reading sample runs, streams its logs, delivers its summary and finishes successfully."""
    start_executor(fake_node.url, "robot-1", protocol)
    registered(fake_node, "robot-1")
    run_id = fake_node.execute(
        "robot-1",
        build_package(sample_path()),
        arguments=[{"name": "fail_on_problems", "type": "bool", "value": "false"}],
    )
    assert fake_node.wait_finish(run_id) == {"runInstanceId": run_id, "status": 0}
    fake_node.wait(lambda: "All tasks passed" in fake_node.log_texts(run_id))
    texts = fake_node.log_texts(run_id)
    assert "Task ended: Validate Readings PASS" in texts
    assert any("decreasing" in t for t in texts)
    assert [p["userName"] for p in fake_node.personal] == ["alice"]
    summary = next(v for v in fake_node.files.values() if v[0] == "meter-summary.csv")
    assert b"M-1002" in summary[1] and b"INVALID" in summary[1]
    checkpoints = [v for v in fake_node.files.values() if v[2] == "checkpoint"]
    assert checkpoints and checkpoints[-1][3] == {"runInstanceId": run_id}


def test_failed_tasks_map_to_failed_with_count(fake_node, start_executor, tmp_path):
    """Exit code N (tasks failed) is reported as failed with TASKS_FAILED and 'N tasks failed' in the logs."""
    robot = "*** Tasks ***\nA\n    Fail    boom\nB\n    Fail    bang\nC\n    Log    fine\n"
    start_executor(fake_node.url, "robot-1")
    registered(fake_node, "robot-1")
    run_id = fake_node.execute("robot-1", make_package(tmp_path, robot))
    assert fake_node.wait_finish(run_id) == {
        "runInstanceId": run_id,
        "status": 2,
        "errorCode": errors.TASKS_FAILED,
    }
    fake_node.wait(lambda: "2 tasks failed" in fake_node.log_texts(run_id))
    failed = [x for x in fake_node.logs[run_id] if x["content"].startswith("Keyword failed: BuiltIn.Fail")]
    assert failed and failed[0]["logLevel"] == 2


def test_invalid_robot_data_maps_to_252_code(fake_node, start_executor, tmp_path):
    """A package whose entry is not valid robot data fails with the INVALID_DATA code."""
    start_executor(fake_node.url, "robot-1")
    registered(fake_node, "robot-1")
    run_id = fake_node.execute("robot-1", make_package(tmp_path, "no sections at all\n"))
    assert fake_node.wait_finish(run_id)["errorCode"] == errors.INVALID_DATA


def test_package_hash_mismatch_fails_the_run(fake_node, start_executor, tmp_path):
    """A package that does not match packageSha256 is not run."""
    start_executor(fake_node.url, "robot-1", "http")
    registered(fake_node, "robot-1")
    run_id = fake_node.execute(
        "robot-1", make_package(tmp_path, "*** Tasks ***\nA\n    Log    x\n"), packageSha256="0" * 64
    )
    assert fake_node.wait_finish(run_id)["errorCode"] == errors.PACKAGE_HASH_MISMATCH


@pytest.mark.parametrize("ignore_term", ["no", "yes"])
def test_stop_cancels_and_cleans_up_the_process_tree(fake_node, start_executor, tmp_path, ignore_term):
    """Stop ends the run as cancelled, gracefully or by kill, and leaves no process of the run behind."""
    ex = start_executor(fake_node.url, "robot-1", stop_grace_seconds=2.0)
    registered(fake_node, "robot-1")
    pkg = make_package(tmp_path, STOPPABLE, {"Stubborn.py": STUBBORN})
    run_id = fake_node.execute(
        "robot-1", pkg, arguments=[{"name": "ignore_term", "type": "string", "value": ignore_term}]
    )
    fake_node.wait(lambda: "child started" in fake_node.log_texts(run_id))
    fake_node.send("robot-1", "Stop")
    started = time.monotonic()
    assert fake_node.wait_finish(run_id, 30) == {"runInstanceId": run_id, "status": 1}
    assert time.monotonic() - started < 15
    pid_file = next(ex.work_dir.glob(f"runs/{run_id}-*/output/child.pid"))
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"child process {pid} of the run is still alive")
    if ignore_term == "yes":
        assert any("killing its process tree" in t for t in fake_node.log_texts(run_id))


def test_timeout_stops_the_run(fake_node, start_executor, tmp_path):
    """timeoutSeconds stops the run and reports it failed with the TIMEOUT code."""
    start_executor(fake_node.url, "robot-1", stop_grace_seconds=2.0)
    registered(fake_node, "robot-1")
    run_id = fake_node.execute(
        "robot-1", make_package(tmp_path, "*** Tasks ***\nA\n    Sleep    60\n"), timeoutSeconds=2
    )
    assert fake_node.wait_finish(run_id, 30) == {
        "runInstanceId": run_id,
        "status": 2,
        "errorCode": errors.TIMEOUT,
    }


@pytest.mark.parametrize("protocol", ["ws", "http"])
def test_logs_survive_an_outage_and_the_executor_reconnects(fake_node, start_executor, tmp_path, protocol):
    """Logs written while the node is unreachable are spooled and delivered, in order, after reconnecting."""
    robot = "*** Tasks ***\nA\n    FOR    ${i}    IN RANGE    30\n        Log    line ${i}\n        Sleep    0.1\n    END\n"
    start_executor(fake_node.url, "robot-1", protocol)
    registered(fake_node, "robot-1")
    run_id = fake_node.execute("robot-1", make_package(tmp_path, robot))
    fake_node.wait(lambda: "line 3" in fake_node.log_texts(run_id))
    fake_node.down = True
    time.sleep(3)
    fake_node.down = False
    assert fake_node.wait_finish(run_id, 60)["status"] == 0
    fake_node.wait(lambda: "All tasks passed" in fake_node.log_texts(run_id))
    lines = [t for t in fake_node.log_texts(run_id) if t.startswith("line ")]
    seen = list(dict.fromkeys(lines))  # WS delivery is at-least-once: duplicates allowed, losses not
    assert seen == [f"line {i}" for i in range(30)]
    assert len([r for r in fake_node.registrations if r[0] == "robot-1"]) >= 2


def test_resumed_attempt_skips_completed_tasks(fake_node, start_executor):
    """With a checkpointUri, tasks recorded as completed are skipped and saved values are available."""
    checkpoint = {
        "values": {
            "rows": [{"meter_id": "M-9", "reading_date": "2024-01-01", "reading_kwh": 1.0}],
            "problems": [],
        },
        "completedTasks": ["Tasks.Validate Readings"],
    }
    url, _ = fake_node.add_blob(json.dumps(checkpoint).encode())
    start_executor(fake_node.url, "robot-1")
    registered(fake_node, "robot-1")
    run_id = fake_node.execute("robot-1", build_package(sample_path()), checkpointUri=url, attempt=2)
    assert fake_node.wait_finish(run_id)["status"] == 0
    fake_node.wait(lambda: "All tasks passed" in fake_node.log_texts(run_id))
    texts = fake_node.log_texts(run_id)
    assert "Checkpoint restored: 1 completed task(s), 2 value(s)" in texts
    assert any(t.startswith("Task ended: Validate Readings SKIP") for t in texts)
    summary = next(v for v in fake_node.files.values() if v[0] == "meter-summary.csv")
    assert b"M-9" in summary[1] and b"M-1001" not in summary[1]


def test_video_is_recorded_and_reported_when_asked(fake_node, start_executor, tmp_path):
    """videoRecordRequired with mode 1 uploads an H.264 recording and reports it after the finish."""
    if not (os.path.exists("/usr/bin/ffmpeg") and os.path.exists("/usr/bin/Xvfb")):
        pytest.skip("needs ffmpeg and Xvfb")
    start_executor(fake_node.url, "robot-1", display="xvfb")
    registered(fake_node, "robot-1")
    run_id = fake_node.execute(
        "robot-1",
        make_package(tmp_path, "*** Tasks ***\nA\n    Sleep    1\n"),
        videoRecordRequired=True,
        videoRecordMode=1,
    )
    fake_node.wait_finish(run_id)
    video_id = fake_node.wait(lambda: fake_node.videos.get(run_id))
    name, data, source, _ = fake_node.files[video_id]
    assert source == "video" and name.endswith(".mkv") and data[:4] == b"\x1a\x45\xdf\xa3"  # EBML/Matroska


def test_video_mode_on_failure_skips_successful_runs(fake_node, start_executor, tmp_path):
    """videoRecordMode 2 returns no video for a successful run."""
    start_executor(fake_node.url, "robot-1")
    registered(fake_node, "robot-1")
    run_id = fake_node.execute(
        "robot-1",
        make_package(tmp_path, "*** Tasks ***\nA\n    Log    x\n"),
        videoRecordRequired=True,
        videoRecordMode=2,
    )
    assert fake_node.wait_finish(run_id)["status"] == 0
    time.sleep(1)
    assert run_id not in fake_node.videos
