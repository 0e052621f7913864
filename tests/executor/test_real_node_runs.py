"""The reference executor as a real process against a real node process (``live_node``), end to end:
what a run does — failures and exit codes, arguments, a package's dependencies, video.

Stop, failover and a node restart: test_real_node_interruptions.py; helpers: realnode.py.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from executor import errors
from tests.executor.realnode import (
    HAVE_DISPLAY,
    HAVE_VIDEO,
    attach,
    download,
    finished,
    logs,
    make_package,
    texts,
    wait_for,
    wait_log,
)
from tests.support import IN_CI

pytestmark = pytest.mark.slow


def test_failed_tasks_fail_the_run_with_count_and_screenshot(
    live_node, start_executor, monkeypatch, tmp_path
):
    """N failed tasks: run failed with TASKS_FAILED, 'N tasks failed' logged, the failed keyword's
    line is an error that references an uploaded screenshot when the run has a display."""
    display = "xvfb" if HAVE_DISPLAY else "none"
    ex = attach(live_node, start_executor, monkeypatch, "rf-fail", display=display)
    robot = "*** Tasks ***\nA\n    Fail    boom\nB\n    Fail    bang\nC\n    Log    fine\n"
    app_id = live_node.upload_app(make_package(tmp_path, robot), "failing")
    run_id = live_node.start_run(app_id, robotId="rf-fail")
    run = finished(live_node, run_id, ex)
    assert (run["status"], run["errorCode"]) == ("failed", errors.TASKS_FAILED), run
    wait_log(live_node, run_id, "2 tasks failed", 20)
    lines = logs(live_node, run_id)
    failed = [x for x in lines if x["content"].startswith("Keyword failed: BuiltIn.Fail")]
    assert [x["content"] for x in failed] == [
        "Keyword failed: BuiltIn.Fail: boom",
        "Keyword failed: BuiltIn.Fail: bang",
    ]
    assert all(x["logLevel"] == 2 for x in failed)
    assert "Task ended: C PASS" in [x["content"] for x in lines]
    if HAVE_DISPLAY:
        for line in failed:
            assert line["screenshot"], line
            assert download(live_node, line["screenshot"])[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        # No display: the listener takes no screenshot (and the executor logs nothing about it).
        assert all(x["screenshot"] is None for x in failed)


def test_arguments_reach_the_robot(live_node, start_executor, monkeypatch, tmp_path):
    """Run arguments given to the node arrive as Robot Framework variables."""
    ex = attach(live_node, start_executor, monkeypatch, "rf-args")
    robot = "*** Tasks ***\nGreet\n    Log    Hello ${who}, ${count} times\n"
    arguments = [{"name": "who", "type": "string"}, {"name": "count", "type": "int", "default": "1"}]
    app_id = live_node.upload_app(make_package(tmp_path, robot, arguments=arguments), "greeter")
    who = "Zhang San 张三 & co"
    run_id = live_node.start_run(
        app_id,
        robotId="rf-args",
        arguments=[
            {"name": "who", "type": "string", "value": who},
            {"name": "count", "type": "int", "value": "3"},
        ],
    )
    run = finished(live_node, run_id, ex)
    assert run["status"] == "succeeded", run
    wait_log(live_node, run_id, f"Hello {who}, 3 times", 20)


def test_invalid_robot_data_maps_to_invalid_data_code(live_node, start_executor, monkeypatch, tmp_path):
    """Robot Framework exit 252 (invalid data) fails the run with INVALID_DATA and the robot's output."""
    ex = attach(live_node, start_executor, monkeypatch, "rf-252")
    app_id = live_node.upload_app(make_package(tmp_path, "no sections at all\n"), "broken")
    run_id = live_node.start_run(app_id, robotId="rf-252")
    run = finished(live_node, run_id, ex)
    assert (run["status"], run["errorCode"]) == ("failed", errors.INVALID_DATA), run
    lines = wait_log(live_node, run_id, "Invalid robot data or command line options (exit 252)", 20)
    assert any(t.startswith("Robot output (last lines):") for t in lines), lines


@pytest.mark.skipif(not HAVE_VIDEO and not IN_CI, reason="needs Xvfb, ffmpeg, ffprobe (CI installs them)")
def test_video_is_recorded_and_downloadable(live_node, start_executor, monkeypatch, tmp_path):
    """videoRecordRequired + mode 1: the run's videoId is set and the file is a playable video; mode 2
    (only on failure) returns no video for a run that succeeds."""
    if not HAVE_VIDEO:
        pytest.fail("CI must provide Xvfb, ffmpeg and ffprobe")
    ex = attach(live_node, start_executor, monkeypatch, "rf-video")
    app_id = live_node.upload_app(make_package(tmp_path, "*** Tasks ***\nA\n    Sleep    2\n"), "recorded")
    run_id = live_node.start_run(app_id, robotId="rf-video", videoRecordRequired=True, videoRecordMode=1)
    assert finished(live_node, run_id, ex)["status"] == "succeeded"
    video_id = wait_for(lambda: live_node.run(run_id)["videoId"], 30, "videoId set")
    path = tmp_path / "video.mkv"
    path.write_bytes(download(live_node, video_id))
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-show_streams", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    video = [s for s in json.loads(probe.stdout)["streams"] if s["codec_type"] == "video"]
    assert video and video[0]["codec_name"] == "h264", probe.stdout
    assert int(video[0]["nb_read_frames"]) >= 2, video[0]

    run_id = live_node.start_run(app_id, robotId="rf-video", videoRecordRequired=True, videoRecordMode=2)
    assert finished(live_node, run_id, ex)["status"] == "succeeded"
    assert any(
        t.startswith("Recording the screen") for t in wait_log(live_node, run_id, "All tasks passed", 20)
    )
    time.sleep(2)
    assert live_node.run(run_id)["videoId"] is None


def test_package_with_dependencies_runs_in_its_own_environment(
    live_node, start_executor, monkeypatch, tmp_path
):
    """A manifest's dependencies are installed from the executor's wheelhouse and importable by the robot."""
    from tests.executor.test_dependencies import make_wheel

    make_wheel(tmp_path / "wheelhouse")
    ex = attach(live_node, start_executor, monkeypatch, "rf-deps", wheelhouse=str(tmp_path / "wheelhouse"))
    robot = (
        "*** Tasks ***\nUse The Dependency\n"
        "    ${value}=    Evaluate    __import__('rpa_demo_dep').VALUE\n    Log    dependency says ${value}\n"
    )
    package = make_package(tmp_path, robot, dependencies=["rpa-demo-dep==1.0"])
    app_id = live_node.upload_app(package, "with-deps")
    for _ in range(2):  # the second run reuses the environment
        run_id = live_node.start_run(app_id, robotId="rf-deps")
        run = finished(live_node, run_id, ex)
        assert run["status"] == "succeeded", run
        wait_log(live_node, run_id, "dependency says from the wheelhouse", 20)
    assert any("reused" in t for t in texts(live_node, run_id))
