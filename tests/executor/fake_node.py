"""A small in-process stand-in for a province node's executor hub (protocol.md), for executor tests.

It speaks the real protocol over a real socket (WS and HTTP), checks supplier secrets, stores what
robots report and lets a test queue ``Execute``/``Stop`` commands. It is not the node: tests against
the real node live in ``test_e2e_node.py``.
"""

from __future__ import annotations

import hashlib
import json
import queue
import threading
import time
import uuid
from collections import defaultdict
from typing import Any

from flask import Flask, abort, jsonify, request
from flask_sock import Sock
from werkzeug.serving import make_server

from protocol.secret import sign


def ok(value: Any = None, status: int = 200):
    return jsonify({"successful": True, "resultHint": "", "resultValue": value}), status


def fail(code: int, hint: str, status: int = 400):
    return jsonify({"successful": False, "resultHint": hint, "resultValue": {"errorCode": code}}), status


class FakeNode:
    """State + a Flask app; ``start()`` serves it on 127.0.0.1 in a thread."""

    def __init__(self, suppliers: dict[str, str] | None = None) -> None:
        self.suppliers = dict(suppliers or {"ACME": "s3cret"})
        self.disabled: set[str] = set()
        self.inbox: dict[str, queue.Queue] = defaultdict(queue.Queue)
        self.connect_ids: dict[str, str] = {}
        self.ws_robots: set[str] = set()
        self.logs: dict[str, list[dict]] = defaultdict(list)
        self.finishes: dict[str, list[dict]] = defaultdict(list)
        self.videos: dict[str, str] = {}
        self.heartbeats: list[tuple[str, dict]] = []
        self.registrations: list[tuple[str, str]] = []
        self.files: dict[str, tuple[str, bytes, str, dict]] = {}  # id -> (name, data, source, fields)
        self.personal: list[dict] = []
        self.blobs: dict[str, bytes] = {}
        self.errors: list[dict] = []
        self.down = False  # simulated outage: sockets closed, HTTP answers 503
        self.lock = threading.Lock()
        self.app = self._make_app()
        self._server = None
        self.url = ""

    # -- test API ------------------------------------------------------------------------------
    def start(self, port: int = 0) -> FakeNode:
        self._server = make_server("127.0.0.1", port, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop_server(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def add_blob(self, data: bytes) -> tuple[str, str]:
        """Store bytes; returns (absolute url, sha256)."""
        sha = hashlib.sha256(data).hexdigest()
        self.blobs[sha] = data
        return f"{self.url}/blob/{sha}", sha

    def send(self, robot_id: str, action: str, body: dict | None = None) -> None:
        self.inbox[robot_id].put((action, body))

    def execute(self, robot_id: str, package: bytes, **fields: Any) -> str:
        url, sha = self.add_blob(package)
        run_id = fields.pop("runInstanceId", None) or uuid.uuid4().hex[:12]
        body = {
            "runInstanceId": run_id,
            "packageDownloadUri": url,
            "packageSha256": sha,
            "userId": "u1",
            "userName": "alice",
            "arguments": [],
        }
        body.update(fields)
        self.send(robot_id, "Execute", body)
        return run_id

    def wait(self, predicate, timeout: float = 30, interval: float = 0.05):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(interval)
        raise AssertionError("condition not reached in time")

    def wait_finish(self, run_id: str, timeout: float = 60) -> dict:
        return self.wait(lambda: self.finishes.get(run_id, [None])[0], timeout)

    def log_texts(self, run_id: str) -> list[str]:
        return [x["content"] for x in self.logs.get(run_id, [])]

    # -- protocol ------------------------------------------------------------------------------
    def _check_secret(self, robot_id: str, code: str | None, value: str | None) -> int | None:
        raw = self.suppliers.get(code or "")
        try:
            ts, nonce, sig = (value or "").split(".", 2)
            good = raw is not None and sign(robot_id, code, int(ts), nonce, raw) == sig
        except ValueError:
            good = False
        if not good:
            return 10002
        if robot_id in self.disabled:
            return 10004
        return None

    def _robot_from_headers(self) -> str | None:
        rid = request.headers.get("robotId")
        if not rid:
            return None
        cid = request.headers.get("robotConnectId")
        if cid and self.connect_ids.get(rid) == cid:
            return rid
        if request.headers.get("supplierSecret"):
            if self._check_secret(
                rid, request.headers.get("supplierCode"), request.headers.get("supplierSecret")
            ):
                return None
            return rid
        return None

    def _handle(self, robot_id: str, action: str, body: dict) -> tuple[int, str] | None:
        with self.lock:
            if action == "Heartbeat":
                self.heartbeats.append((robot_id, body))
            elif action == "ReportLogs":
                logs = body.get("logs")
                if not body.get("runInstanceId") or not isinstance(logs, list) or not 1 <= len(logs) <= 1000:
                    return 10001, "logs"
                self.logs[body["runInstanceId"]].extend(logs)
            elif action == "ReportFinish":
                if body.get("status") not in (0, 1, 2):
                    return 10001, "status"
                self.finishes[body["runInstanceId"]].append(body)
            elif action == "ReportVideoRecord":
                if body.get("runInstanceId") not in self.finishes:
                    return 10001, "video before finish"
                self.videos[body["runInstanceId"]] = body.get("videoId")
            else:
                return 10001, f"unknown action {action}"
        return None

    def _make_app(self) -> Flask:
        app = Flask(__name__)
        sock = Sock(app)
        node = self

        @app.before_request
        def outage():
            if node.down and not request.path.startswith("/robothub/"):
                return "Service Unavailable", 503

        @sock.route("/robothub/<robot_id>")
        def hub(ws, robot_id):
            registered = False
            while True:
                if node.down:
                    ws.close()
                    return
                if registered:
                    try:
                        action, body = node.inbox[robot_id].get_nowait()
                        frame = {"action": action}
                        if body is not None:
                            frame["body"] = json.dumps(body)
                        ws.send(json.dumps(frame))
                    except queue.Empty:
                        pass
                data = ws.receive(timeout=0.05)
                if data is None:
                    continue
                msg = json.loads(data)
                body = (
                    json.loads(msg["body"]) if isinstance(msg.get("body"), str) else (msg.get("body") or {})
                )
                if msg["action"] == "Register":
                    err = node._check_secret(robot_id, body.get("supplierCode"), body.get("supplierSecret"))
                    if err:
                        ws.send(json.dumps({"action": "Error", "body": json.dumps({"errorCode": err})}))
                        ws.close()
                        return
                    registered = True
                    node.ws_robots.add(robot_id)
                    node.registrations.append((robot_id, "ws"))
                    continue
                if not registered:
                    ws.send(json.dumps({"action": "Error", "body": json.dumps({"errorCode": 10003})}))
                    continue
                err = node._handle(robot_id, msg["action"], body)
                if err:
                    node.errors.append({"robot": robot_id, "code": err[0], "message": err[1]})
                    ws.send(
                        json.dumps(
                            {"action": "Error", "body": json.dumps({"errorCode": err[0], "message": err[1]})}
                        )
                    )

        @app.post("/robots/connect/<name>")
        def connect(name):
            body = request.get_json(silent=True) or {}
            rid = request.headers.get("robotId", "")
            if name == "register":
                err = node._check_secret(rid, body.get("supplierCode"), body.get("supplierSecret"))
                if err:
                    return fail(err, "auth", 401 if err == 10002 else 403)
                cid = uuid.uuid4().hex
                node.connect_ids[rid] = cid
                node.registrations.append((rid, "http"))
                return ok({"robotConnectId": cid, "licenseContent": None})
            if node.connect_ids.get(rid) != request.headers.get("robotConnectId"):
                return fail(10000, "superseded", 401)
            action = {
                "heartbeat": "Heartbeat",
                "reportLogs": "ReportLogs",
                "reportFinish": "ReportFinish",
                "reportVideoRecord": "ReportVideoRecord",
            }.get(name)
            if action is None:
                abort(404)
            err = node._handle(rid, action, body)
            if err:
                return fail(err[0], err[1])
            if action == "Heartbeat":
                wait = min(float(request.headers.get("X-Wait-Seconds") or 0), 30)
                try:
                    cmd, cbody = node.inbox[rid].get(timeout=wait) if wait else node.inbox[rid].get_nowait()
                except queue.Empty:
                    return ok({"Action": "None", "Body": None})
                return ok({"Action": cmd, "Body": cbody})
            return ok(None)

        @app.post("/v1/file/<source>/upload")
        def upload(source):
            if node._robot_from_headers() is None:
                return fail(10003, "anonymous", 401)
            f = request.files.get("file")
            if f is None:
                return fail(10001, "file")
            fid = uuid.uuid4().hex
            node.files[fid] = (f.filename, f.read(), source, dict(request.form))
            return ok({"fileId": fid, "fileName": f.filename, "fileUrl": f"{node.url}/files/{fid}"})

        @app.get("/files/<fid>")
        def get_file(fid):
            if fid not in node.files:
                return fail(10001, "no such file", 404)
            return node.files[fid][1]

        @app.get("/blob/<sha>")
        def blob(sha):
            if sha not in node.blobs:
                return fail(10001, "no such blob", 404)
            return node.blobs[sha]

        @app.post("/design/personalfile")
        def personal():
            if node._robot_from_headers() is None:
                return fail(10003, "anonymous", 401)
            node.personal.append(request.get_json())
            return ok(None)

        return app
