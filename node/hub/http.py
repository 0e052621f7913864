"""HTTP transport: ``POST /robots/connect/*`` (appendix A.2, protocol.md §3)."""

from __future__ import annotations

from flask import Blueprint, request

from common.auth.csrf import exempt
from common.envelope import ApiError, envelope
from common.errors import json_errors
from common.jsonbody import request_json
from common.urls import base_url
from node.hub.messages import (
    HeartbeatBody,
    RegisterBody,
    ReportFinishBody,
    ReportLogsBody,
    ReportVideoBody,
    parse_body,
)
from node.hub.robot_auth import robot_from_headers
from node.hub.runtime import hub_runtime
from node.robots.registration import check_robot_id
from node.robots.runtime import robots_runtime
from node.runs import delivery, reports
from node.runs.arrivals import register_and_offer
from node.runs.reports import RobotSession
from node.runtime import runtime
from protocol.actions import NONE
from protocol.codes import BAD_REQUEST
from protocol.limits import MAX_WAIT_SECONDS

bp = Blueprint("robots_connect", __name__, url_prefix="/robots/connect")
json_errors(bp)


def _json_body():
    """The protocol body (an empty one is ``{}``); its models bound what it may hold."""
    data = request_json(request, runtime().config.max_frame_bytes, max_depth=None, too_large=BAD_REQUEST)
    return data if data is not None else {}


def _session() -> RobotSession:
    robot_id = robot_from_headers(request)
    connect_id = request.headers["robotConnectId"]
    sessions = hub_runtime().http_sessions
    sess = sessions.get(robot_id)
    if sess is None or sess.connect_id != connect_id:
        sess = sessions[robot_id] = RobotSession(robot_id, connect_id)
    return sess


@bp.post("/register")
@exempt
def register():
    robot_id = check_robot_id(request.headers.get("robotId"))
    body = parse_body(RegisterBody, _json_body())
    _robot, connect_id, lic = register_and_offer(
        robot_id, body.supplierCode, body.supplierSecret, body.version, "http", refuse_live_ws=False
    )
    hub_runtime().http_sessions[robot_id] = RobotSession(robot_id, connect_id)
    return envelope({"robotConnectId": connect_id, "licenseContent": lic})


def _wait_seconds() -> float:
    raw = request.headers.get("X-Wait-Seconds")
    if raw is None:
        return 0
    try:
        value = float(raw)
    except ValueError:
        raise ApiError(BAD_REQUEST, f"X-Wait-Seconds: a number from 0 to {MAX_WAIT_SECONDS}") from None
    if not 0 <= value <= MAX_WAIT_SECONDS:
        raise ApiError(BAD_REQUEST, f"X-Wait-Seconds: a number from 0 to {MAX_WAIT_SECONDS}")
    return value


@bp.post("/heartbeat")
@exempt
def heartbeat():
    """Heartbeat, answered with the robot's next command (long poll up to ``X-Wait-Seconds``)."""
    sess = _session()
    body = parse_body(HeartbeatBody, _json_body())
    wait = _wait_seconds()
    cfg = runtime().config
    presence = robots_runtime().presence
    connections = hub_runtime().connections
    reports.heartbeat(sess, body.runInstanceId, body.metrics.model_dump() if body.metrics else None)
    base = base_url(request, cfg.public_url)
    while True:
        command = delivery.next_command(sess.robot_id, base)
        if command is not None:
            return envelope({"Action": command[0], "Body": command[1]})
        if wait <= 0 or connections.draining:
            return envelope({"Action": NONE, "Body": None})
        connections.wait_for_mail(
            sess.robot_id,
            wait,
            touch=lambda: presence.touch(sess.robot_id),
            slice_seconds=max(cfg.heartbeat_interval / 2, 0.2),
        )
        presence.touch(sess.robot_id)
        wait = 0


@bp.post("/reportLogs")
@exempt
def report_logs():
    sess = _session()
    body = parse_body(ReportLogsBody, _json_body())
    reports.report_logs(sess, body.runInstanceId, body.logs)
    return envelope(None)


@bp.post("/reportFinish")
@exempt
def report_finish():
    sess = _session()
    body = parse_body(ReportFinishBody, _json_body())
    reports.report_finish(sess, body.runInstanceId, body.status, body.errorCode)
    return envelope(None)


@bp.post("/reportVideoRecord")
@exempt
def report_video():
    sess = _session()
    body = parse_body(ReportVideoBody, _json_body())
    reports.report_video(sess, body.runInstanceId, body.videoId)
    return envelope(None)
