"""HTTP transport: ``POST /robots/connect/*`` (appendix A.2, protocol.md §3)."""

from __future__ import annotations

from flask import Blueprint, request

from common.db import db
from common.envelope import BAD_REQUEST, ApiError, envelope
from node.context import runtime
from node.hub import service
from node.hub.protocol import (
    HeartbeatBody,
    RegisterBody,
    ReportFinishBody,
    ReportLogsBody,
    ReportVideoBody,
    parse_body,
)
from node.hub.robot_auth import robot_from_headers
from node.hub.urls import base_url
from node.schedule import dispatch, robots
from node.schedule.robots import check_robot_id

bp = Blueprint("robots_connect", __name__, url_prefix="/robots/connect")

# robotId → the session of its current robotConnectId in this process.
_sessions: dict[str, service.Session] = {}
MAX_WAIT = 30


def _json_body():
    if request.content_length and request.content_length > runtime().config.max_frame_bytes:
        raise ApiError(BAD_REQUEST, f"body: larger than {runtime().config.max_frame_bytes} bytes", 413)
    data = request.get_json(silent=True)
    if data is None and request.get_data(cache=True):
        raise ApiError(BAD_REQUEST, "body: not valid JSON")
    return data if data is not None else {}


def _session() -> service.Session:
    robot_id = robot_from_headers(request)
    connect_id = request.headers["robotConnectId"]
    sess = _sessions.get(robot_id)
    if sess is None or sess.connect_id != connect_id:
        sess = _sessions[robot_id] = service.Session(robot_id, connect_id)
    return sess


@bp.post("/register")
def register():
    robot_id = check_robot_id(request.headers.get("robotId"))
    body = parse_body(RegisterBody, _json_body())
    _robot, connect_id, lic = robots.register(
        robot_id, body.supplierCode, body.supplierSecret, body.version, "http", refuse_live_ws=False
    )
    _sessions[robot_id] = service.Session(robot_id, connect_id)
    return envelope({"robotConnectId": connect_id, "licenseContent": lic})


def _wait_seconds() -> float:
    raw = request.headers.get("X-Wait-Seconds")
    if raw is None:
        return 0
    try:
        value = float(raw)
    except ValueError:
        raise ApiError(BAD_REQUEST, "X-Wait-Seconds: a number from 0 to 30") from None
    if not 0 <= value <= MAX_WAIT:
        raise ApiError(BAD_REQUEST, "X-Wait-Seconds: a number from 0 to 30")
    return value


@bp.post("/heartbeat")
def heartbeat():
    sess = _session()
    body = parse_body(HeartbeatBody, _json_body())
    wait = _wait_seconds()
    rt = runtime()
    service.heartbeat(sess, body)
    base = base_url(request, rt.config.public_url)
    while True:
        cmds = dispatch.take_commands(sess.robot_id, base, 1)
        if cmds:
            cmd_id, action, cmd_body = cmds[0]
            dispatch.mark_delivered([cmd_id])
            if not action:  # a stale Execute was dropped: look again
                continue
            return envelope({"Action": action, "Body": cmd_body})
        db.session.rollback()
        if wait <= 0 or rt.connections.draining:
            return envelope({"Action": "None", "Body": None})
        rt.connections.wait_for_mail(
            sess.robot_id,
            wait,
            touch=lambda: rt.presence.touch(sess.robot_id),
            slice_seconds=max(rt.config.heartbeat_interval / 2, 0.2),
        )
        rt.presence.touch(sess.robot_id)
        wait = 0


@bp.post("/reportLogs")
def report_logs():
    sess = _session()
    service.report_logs(sess, parse_body(ReportLogsBody, _json_body()))
    return envelope(None)


@bp.post("/reportFinish")
def report_finish():
    sess = _session()
    service.report_finish(sess, parse_body(ReportFinishBody, _json_body()))
    return envelope(None)


@bp.post("/reportVideoRecord")
def report_video():
    sess = _session()
    service.report_video(sess, parse_body(ReportVideoBody, _json_body()))
    return envelope(None)
