"""Property-based tests: random and malformed WebSocket frames to a real node process never break it.

Fewer examples than over HTTP (a real node): a frame gets nothing or an Error frame with a protocol code,
the connection stays usable, and every log line accepted can be read back intact (protocol.md §2-§5).
The HTTP side: test_fuzz_http.py; shared strategies: fuzz_inputs.py.
"""

from __future__ import annotations

import json
import secrets

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.node.fuzz_inputs import (
    FIELD_BODIES,
    FIXTURE_OK,
    LIVE,
    RUN,
    assert_same_lines,
    json_values,
    scalars,
    valid_line,
    wire_line,
)
from tests.support import WsRobot, package_zip

WS_ACTIONS = ["Register", "Heartbeat", "ReportLogs", "ReportFinish", "ReportVideoRecord"]
ALLOWED_WS_CODES = {10001, 10003, 10006}


def ws_probe(robot: WsRobot) -> list[dict]:
    """Frames the node sent before answering a ReportFinish for a run that does not exist (10006)."""
    marker = "probe-" + secrets.token_hex(6)
    robot.send("ReportFinish", {"runInstanceId": marker, "status": 0})
    before = []
    while True:
        frame = robot.recv(5)
        assert frame is not None, "no answer to the probe: the connection is stuck"
        body = frame.get("body") or {}
        if frame["action"] == "Error" and marker in str(body.get("message", "")):
            assert body["errorCode"] == 10006, frame
            return before
        before.append(frame)


@st.composite
def ws_frames(draw) -> str | bytes:
    """A frame: random text or bytes, any JSON, or {action, body} with field-aware or random bodies."""
    kind = draw(st.sampled_from(["text", "bytes", "json", "frame", "frame", "frame"]))
    if kind == "text":
        return draw(st.text(max_size=200))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "json":
        return json.dumps(draw(json_values))
    action = draw(st.sampled_from(WS_ACTIONS) | st.text(max_size=20) | scalars)
    body = draw(FIELD_BODIES.get(action, json_values))
    frame = {"action": action}
    if draw(st.booleans()):
        frame["body"] = json.dumps(body) if draw(st.booleans()) else body
    if draw(st.booleans()):
        frame[draw(st.text(max_size=10))] = draw(scalars)
    return json.dumps(frame)


@pytest.fixture
def ws_setup(live_node):
    secret = live_node.add_supplier("fuzz")
    app_id = live_node.upload_app(package_zip(), "fuzz")
    robot = WsRobot(live_node, "fuzz-ws-1", "fuzz", secret)
    robot.register()
    assert ws_probe(robot) == []
    yield live_node, robot, app_id
    robot.close()


@pytest.mark.slow
def test_random_ws_frames_get_at_most_an_error_and_the_connection_survives(ws_setup):
    """After Register, random frames get nothing or Error 10001/10003/10006; the connection stays usable:
    a heartbeat still works and a run's logs sent afterwards are stored."""
    node, robot, app_id = ws_setup
    no_such_run = "r_" + "0" * 24  # this robot has no run yet: every runInstanceId is foreign

    @LIVE
    @given(frame=ws_frames())
    def one_frame(frame):
        robot.ws.send(frame.replace(RUN, no_such_run) if isinstance(frame, str) else frame)
        for answer in ws_probe(robot):
            assert answer["action"] == "Error", (frame, answer)
            assert answer["body"]["errorCode"] in ALLOWED_WS_CODES, (frame, answer)

    one_frame()

    robot.heartbeat()
    assert ws_probe(robot) == []
    run_id = node.start_run(app_id, robotId=robot.robot_id)
    execute = robot.expect("Execute")
    assert execute["body"]["runInstanceId"] == run_id
    lines = [{"content": f"最后一行 {i} ✓", "logAt": 1764295200000 + i, "logLevel": i % 3} for i in range(25)]
    robot.send("ReportLogs", {"runInstanceId": run_id, "logs": lines})
    assert ws_probe(robot) == []
    got = node.value("GET", f"/runs/{run_id}/logs", params={"limit": 1000})["items"]
    assert_same_lines(lines, got)


@pytest.mark.slow
def test_accepted_logs_read_back_intact_over_websocket(ws_setup):
    """Over WebSocket (the group-commit writer of a real node) every accepted line reads back intact."""
    node, robot, app_id = ws_setup

    @settings(max_examples=15, deadline=None, suppress_health_check=FIXTURE_OK, database=None)
    @given(batches=st.lists(st.lists(valid_line, min_size=1, max_size=60), min_size=1, max_size=3))
    def one_run(batches):
        run_id = node.start_run(app_id, robotId=robot.robot_id)
        assert robot.expect("Execute")["body"]["runInstanceId"] == run_id
        try:
            for batch in batches:
                robot.send("ReportLogs", {"runInstanceId": run_id, "logs": [wire_line(x) for x in batch]})
            assert ws_probe(robot) == []
            got = node.value("GET", f"/runs/{run_id}/logs", params={"limit": 1000})["items"]
            assert_same_lines([x for b in batches for x in b], got)
        finally:
            robot.send("ReportFinish", {"runInstanceId": run_id, "status": 0})
            assert ws_probe(robot) == []

    one_run()
