"""WebSocket transport: ``GET /robothub/{id}`` (appendix A.1, protocol.md §2)."""

from __future__ import annotations

import contextlib
import logging
import time

from flask import request
from flask_sock import Sock
from simple_websocket import ConnectionClosed

from common.db import db
from common.envelope import ApiError
from common.urls import base_url
from node.hub.connections import Connection
from node.hub.messages import frame, parse_frame
from node.hub.runtime import hub_runtime
from node.robots.registration import ROBOT_ID_RE, disconnect
from node.runs import reports
from node.runs.arrivals import register_and_offer
from node.runs.reports import RobotSession
from node.runtime import runtime
from protocol.actions import (
    CONFIRM,
    ERROR,
    HEARTBEAT,
    REGISTER,
    REPORT_FINISH,
    REPORT_LOGS,
    REPORT_VIDEO_RECORD,
    SEND_LICENSE,
)
from protocol.codes import BAD_REQUEST, NOT_REGISTERED, RETRY_LATER_CODES, UNKNOWN_ERROR

log = logging.getLogger(__name__)

sock = Sock()


def _error(code: int, message: str) -> str:
    return frame(ERROR, {"errorCode": code, "message": message})


@sock.route("/robothub/<path:robot_id>")
def robothub(ws, robot_id: str) -> None:
    """One executor connection: Register first, then heartbeats, logs and reports; commands go down.

    Frames are handled strictly in order, and a ReportLogs or ReportFinish only after the previous
    frame's data is committed: a ``Confirm`` (the Heartbeat extension) therefore vouches for every
    frame sent before its Heartbeat.
    """
    cfg = runtime().config
    connections = hub_runtime().connections
    base = base_url(request, cfg.public_url)
    sess: RobotSession | None = None
    conn: Connection | None = None
    last_heard = time.monotonic()
    stale_after = cfg.offline_after
    retry_later = False
    try:
        if not ROBOT_ID_RE.match(robot_id):
            ws.send(_error(BAD_REQUEST, "robotId: 1-64 characters of letters, digits, . _ : - in the URL"))
            return
        while not connections.draining:
            text = ws.receive(timeout=cfg.heartbeat_interval)
            if text is None:
                if time.monotonic() - last_heard > stale_after:
                    log.info("Robot %s: no message for %.0fs, closing", robot_id, stale_after)
                    break
                continue
            last_heard = time.monotonic()
            try:
                action, body = parse_frame(text, cfg.max_frame_bytes)
                if sess is None:
                    if action != REGISTER:
                        raise ApiError(NOT_REGISTERED, f"action: {action} before a successful Register")
                    try:
                        _robot, cid, lic = register_and_offer(
                            robot_id,
                            body.supplierCode,
                            body.supplierSecret,
                            body.version,
                            "ws",
                            refuse_live_ws=True,
                        )
                    except ApiError as exc:
                        ws.send(_error(exc.code, exc.hint))
                        return
                    sess = RobotSession(robot_id, cid)
                    conn = Connection(connections, robot_id, cid, ws, base)
                    connections.add(conn)
                    if lic is not None:
                        conn.send(frame(SEND_LICENSE, {"licenseContent": lic}))
                    conn.wake()
                elif action == HEARTBEAT:
                    metrics = body.metrics.model_dump() if body.metrics else None
                    reports.heartbeat(sess, body.runInstanceId, metrics)
                    if body.confirm:  # frames are handled in order: all before this one are done
                        conn.send(frame(CONFIRM, {"confirm": body.confirm}))
                elif action == REPORT_LOGS:
                    reports.report_logs(sess, body.runInstanceId, body.logs)
                elif action == REPORT_FINISH:
                    reports.report_finish(sess, body.runInstanceId, body.status, body.errorCode)
                elif action == REPORT_VIDEO_RECORD:
                    reports.report_video(sess, body.runInstanceId, body.videoId)
                else:  # Register again on a registered connection
                    raise ApiError(BAD_REQUEST, "action: already registered on this connection")
            except ApiError as exc:
                db.session.rollback()
                (conn.send if conn else ws.send)(_error(exc.code, exc.hint))
                if exc.code in RETRY_LATER_CODES:  # not applied this time: close 1013 (see below)
                    retry_later = True
                    break
            except ConnectionClosed:
                raise
            except Exception:
                db.session.rollback()
                log.exception("Robot %s: failed to handle a frame", robot_id)
                (conn.send if conn else ws.send)(
                    _error(UNKNOWN_ERROR, "internal error; the frame was not applied")
                )
                retry_later = True
                break
            finally:
                db.session.close()
    except ConnectionClosed:
        pass
    finally:
        if retry_later:  # a frame was not applied: no later Confirm may cover it; resend after reconnect
            code, reason = 1013, "try again later"
        elif connections.draining:
            code, reason = 1001, "going away"
        else:
            code, reason = 1000, ""
        if conn is not None:
            conn.close(code, reason)  # under its send lock: never interleaved with a delivery
            connections.remove(conn)
            try:
                disconnect(robot_id, conn.connect_id)
            except Exception:
                log.exception("Robot %s: could not record the disconnect", robot_id)
            log.info("Robot %s: WebSocket closed", robot_id)
        _close(ws, code, reason)


CLOSE_WAIT_SECONDS = 2.0


def _close(ws, code: int, reason: str) -> None:
    """Send the close frame and wait (at most CLOSE_WAIT_SECONDS) for the executor's answer: the
    socket is then closed by its own reader after both sides are done, so no reset can swallow the
    last frames we sent, and the descriptor is released before the server's cleanup runs."""
    with contextlib.suppress(Exception):
        if ws.connected:
            ws.close(reason=code, message=reason)
    reader = getattr(ws, "thread", None)
    if reader is not None:
        reader.join(timeout=CLOSE_WAIT_SECONDS)


def init_app(app) -> None:
    sock.init_app(app)
