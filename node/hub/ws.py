"""WebSocket transport: ``GET /robothub/{id}`` (appendix A.1, protocol.md §2)."""

from __future__ import annotations

import contextlib
import logging
import time

from flask import request
from flask_sock import Sock
from simple_websocket import ConnectionClosed

from common.db import db
from common.envelope import BAD_REQUEST, NOT_REGISTERED, THROTTLED, UNKNOWN_ERROR, ApiError
from node.context import runtime
from node.hub import service
from node.hub.connections import Connection
from node.hub.protocol import frame, parse_frame
from node.hub.urls import base_url
from node.schedule import robots

log = logging.getLogger(__name__)

sock = Sock()

# Refusals that mean "not applied this time" (overloaded, internal error). Over WebSocket nothing
# else tells the executor which frame failed, so the connection is closed with 1013: the executor's
# unconfirmed reports are sent again after it reconnects, instead of being lost.
RETRY_LATER = frozenset({THROTTLED, UNKNOWN_ERROR})


def _error(code: int, message: str) -> str:
    return frame("Error", {"errorCode": code, "message": message})


@sock.route("/robothub/<path:robot_id>")
def robothub(ws, robot_id: str) -> None:  # noqa: ANN001
    """One executor connection: Register first, then heartbeats, logs and reports; commands go down.

    Frames are handled strictly in order, and a ReportLogs or ReportFinish only after the previous
    frame's data is committed: a ``Confirm`` (the Heartbeat extension) therefore vouches for every
    frame sent before its Heartbeat.
    """
    rt = runtime()
    cfg = rt.config
    base = base_url(request, cfg.public_url)
    sess: service.Session | None = None
    conn: Connection | None = None
    last_heard = time.monotonic()
    stale_after = cfg.offline_after
    retry_later = False
    try:
        if not robots.ROBOT_ID_RE.match(robot_id):
            ws.send(_error(BAD_REQUEST, "robotId: 1-64 characters of letters, digits, . _ : - in the URL"))
            return
        while not rt.connections.draining:
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
                    if action != "Register":
                        raise ApiError(NOT_REGISTERED, f"action: {action} before a successful Register")
                    try:
                        _robot, cid, lic = robots.register(
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
                    sess = service.Session(robot_id, cid)
                    conn = Connection(rt.connections, robot_id, cid, ws, base)
                    rt.connections.add(conn)
                    if lic is not None:
                        conn.send(frame("SendLicense", {"licenseContent": lic}))
                    conn.wake()
                elif action == "Heartbeat":
                    service.heartbeat(sess, body)
                    if body.confirm:  # frames are handled in order: all before this one are done
                        conn.send(frame("Confirm", {"confirm": body.confirm}))
                elif action == "ReportLogs":
                    service.report_logs(sess, body)
                elif action == "ReportFinish":
                    service.report_finish(sess, body)
                elif action == "ReportVideoRecord":
                    service.report_video(sess, body)
                else:  # Register again on a registered connection
                    raise ApiError(BAD_REQUEST, "action: already registered on this connection")
            except ApiError as exc:
                db.session.rollback()
                (conn.send if conn else ws.send)(_error(exc.code, exc.hint))
                if exc.code in RETRY_LATER:
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
        elif rt.connections.draining:
            code, reason = 1001, "going away"
        else:
            code, reason = 1000, ""
        if conn is not None:
            conn.close(code, reason)  # under its send lock: never interleaved with a delivery
            rt.connections.remove(conn)
            try:
                robots.disconnect(robot_id, conn.connect_id)
            except Exception:
                log.exception("Robot %s: could not record the disconnect", robot_id)
            log.info("Robot %s: WebSocket closed", robot_id)
        _close(ws, code, reason)


CLOSE_WAIT_SECONDS = 2.0


def _close(ws, code: int, reason: str) -> None:  # noqa: ANN001
    """Send the close frame and wait (at most CLOSE_WAIT_SECONDS) for the executor's answer: the
    socket is then closed by its own reader after both sides are done, so no reset can swallow the
    last frames we sent, and the descriptor is released before the server's cleanup runs."""
    with contextlib.suppress(Exception):
        if ws.connected:
            ws.close(reason=code, message=reason)
    reader = getattr(ws, "thread", None)
    if reader is not None:
        reader.join(timeout=CLOSE_WAIT_SECONDS)


def init_app(app) -> None:  # noqa: ANN001
    sock.init_app(app)
