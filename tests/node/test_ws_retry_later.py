"""A WebSocket frame the node could not apply for a passing reason (overloaded, internal error) gets its
Error and then a close with 1013, so no later Confirm can vouch for it and the executor sends it again.

Fault injection: the node is served in this process (werkzeug, threaded) so that the protocol action
can be made to fail; the rest of the path (Register, the hub's error handling, the close) is the
node's own.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
from simple_websocket import ConnectionClosed
from werkzeug.serving import make_server

from common.envelope import ApiError
from node.robots import suppliers
from node.runs import reports as service
from protocol.codes import THROTTLED
from tests.support import WsRobot, log_lines


def _overloaded(*_args):
    raise ApiError(THROTTLED, "Log ingest: the node is overloaded; nothing was changed, retry", 503)


def _broken(*_args):
    raise RuntimeError("a bug while handling the frame")


@pytest.fixture
def served(app):
    with app.app_context():
        _sup, secret = suppliers.add_supplier("acme", "Acme", ["robotframework"], actor="test")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield SimpleNamespace(ws_url=f"ws://127.0.0.1:{server.server_port}"), secret
    server.shutdown()


@pytest.mark.parametrize(("failure", "code"), [(_overloaded, 10008), (_broken, 19999)])
def test_a_frame_not_applied_is_answered_then_the_connection_closes_1013(served, monkeypatch, failure, code):
    node, secret = served
    robot = WsRobot(node, "r1", "acme", secret)
    robot.register()
    robot.send("Heartbeat", {"confirm": "c1-1"})
    assert robot.expect("Confirm")["body"] == {"confirm": "c1-1"}
    monkeypatch.setattr(service, "report_logs", failure)
    robot.send("ReportLogs", {"runInstanceId": "run-x", "logs": log_lines(3, "x")})
    robot.send("Heartbeat", {"confirm": "c1-2"})  # must not be confirmed: the lines were not stored
    assert robot.expect("Error")["body"]["errorCode"] == code
    with pytest.raises(ConnectionClosed) as closed:
        for _ in range(20):
            frame = robot.ws.receive(0.5)
            assert frame is None or "Confirm" not in frame, frame
    assert closed.value.reason == 1013


def test_a_refusal_for_good_keeps_the_connection(served):
    """10006 (a run this robot does not hold) is final: Error, the connection stays, Confirm follows."""
    node, secret = served
    robot = WsRobot(node, "r2", "acme", secret)
    robot.register()
    robot.send("ReportLogs", {"runInstanceId": "run-x", "logs": log_lines(3, "x")})
    assert robot.expect("Error")["body"]["errorCode"] == 10006
    robot.send("Heartbeat", {"confirm": "c1-3"})
    assert robot.expect("Confirm")["body"] == {"confirm": "c1-3"}
