"""Bare baselines the benchmarks compare the node with, each started as its own process.

Modes:
  hub       flask-sock ``/robothub/<id>`` on one gevent WSGIServer: parses every frame as JSON, keeps
            last-seen in a dict, writes ReportLogs lines with SQLAlchemy Core into SQLite (WAL,
            synchronous=NORMAL) through a 5 ms group-commit writer, answers unknown actions with an
            Error frame (so the probe trick works), no auth, no validation beyond json.loads.
  dispatch  Flask + flask-sock: POST /api/v1/runs picks an idle connected robot (else queues the run)
            and pushes an Execute frame; ReportFinish marks the run succeeded and hands the robot
            the next queued run; GET /api/v1/runs/<id> answers the status. Everything in memory.
  insert    not a server: SQLAlchemy Core ``insert()`` of 1000-row batches into a table shaped like
            ``run_instance_log`` (one commit per batch) for ``--seconds``; prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path


def _table(metadata):
    from sqlalchemy import BigInteger, Column, DateTime, Index, Integer, String, Table, Text

    big = BigInteger().with_variant(Integer, "sqlite")
    return Table(
        "run_instance_log",
        metadata,
        Column("id", big, primary_key=True),
        Column("run_instance_id", String(40)),
        Column("attempt", Integer),
        Column("robot_id", String(64)),
        Column("content", Text),
        Column("screenshot", String(40), nullable=True),
        Column("log_at", DateTime),
        Column("log_level", Integer),
        Index("ix_bl_run_at", "run_instance_id", "log_at", "id"),
    )


def _engine(url: str):
    from sqlalchemy import create_engine, event

    engine = create_engine(url)
    if url.startswith("sqlite"):

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _rec) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=10000")
            cur.close()

    return engine


def _rows(run_id: str, robot_id: str, logs: list[dict]) -> list[dict]:
    return [
        {
            "run_instance_id": run_id,
            "attempt": 1,
            "robot_id": robot_id,
            "content": item["content"],
            "screenshot": None,
            "log_at": datetime.fromisoformat(item["logAt"]).astimezone(UTC).replace(tzinfo=None),
            "log_level": int(item["logLevel"]),
        }
        for item in logs
    ]


def _serve(app, port: int) -> None:
    from gevent.pywsgi import WSGIServer

    WSGIServer(("127.0.0.1", port), app, log=None).serve_forever()


def hub(port: int, workdir: Path) -> None:
    import gevent
    from flask import Flask, jsonify
    from flask_sock import Sock
    from gevent.event import AsyncResult, Event
    from simple_websocket import ConnectionClosed
    from sqlalchemy import MetaData, insert

    db_path = workdir / "baseline-hub.db"
    db_path.unlink(missing_ok=True)
    engine = _engine(f"sqlite:///{db_path}")
    table = _table(MetaData())
    table.metadata.create_all(engine)
    queue: list[tuple[list[dict], AsyncResult]] = []
    wake = Event()

    def writer() -> None:
        while True:
            wake.wait()
            wake.clear()
            gevent.sleep(0.005)
            while queue:
                taken = queue[:]
                del queue[:]
                with engine.begin() as con:
                    con.execute(insert(table), [r for rows, _ in taken for r in rows])
                for _, res in taken:
                    res.set(True)

    gevent.spawn(writer)
    seen: dict[str, float] = {}
    app = Flask(__name__)
    sock = Sock(app)

    @app.get("/healthz")
    def healthz():
        return jsonify(ok=True)

    @app.get("/count")
    def count():
        with engine.connect() as con:
            return jsonify(count=con.exec_driver_sql("SELECT count(*) FROM run_instance_log").scalar())

    @sock.route("/robothub/<robot_id>")
    def robothub(ws, robot_id: str) -> None:
        try:
            while True:
                text = ws.receive(timeout=60)
                if text is None:
                    break
                msg = json.loads(text)
                action = msg.get("action")
                body = json.loads(msg["body"]) if isinstance(msg.get("body"), str) else msg.get("body") or {}
                if action in ("Register", "Heartbeat"):
                    seen[robot_id] = time.time()
                elif action == "ReportLogs":
                    res = AsyncResult()
                    queue.append((_rows(body["runInstanceId"], robot_id, body["logs"]), res))
                    wake.set()
                    res.get(timeout=30)
                    seen[robot_id] = time.time()
                elif action == "ReportFinish":
                    pass
                else:
                    err = {"errorCode": 10001, "message": f"action: unknown action {action!r}"}
                    ws.send(json.dumps({"action": "Error", "body": json.dumps(err)}))
        except ConnectionClosed:
            pass

    _serve(app, port)


def dispatch(port: int, workdir: Path) -> None:
    import itertools
    from collections import deque

    from flask import Flask, jsonify, request
    from flask_sock import Sock
    from simple_websocket import ConnectionClosed

    app = Flask(__name__)
    sock = Sock(app)
    conns: dict[str, object] = {}
    idle: deque[str] = deque()
    queued: deque[str] = deque()
    status: dict[str, str] = {}
    counter = itertools.count(1)

    def push(robot_id: str, run_id: str) -> None:
        status[run_id] = "dispatched"
        body = {
            "runInstanceId": run_id,
            "packageDownloadUri": "http://127.0.0.1/x",
            "userId": "1",
            "userName": "a",
        }
        conns[robot_id].send(json.dumps({"action": "Execute", "body": json.dumps(body)}))

    @app.get("/healthz")
    def healthz():
        return jsonify(ok=True)

    @app.post("/api/v1/runs")
    def start():
        request.get_json(force=True)
        run_id = f"r_{next(counter):08d}"
        status[run_id] = "pending"
        if idle:
            push(idle.popleft(), run_id)
        else:
            queued.append(run_id)
        return jsonify(successful=True, resultHint="", resultValue={"runInstanceId": run_id}), 201

    @app.get("/api/v1/runs/<run_id>")
    def get(run_id: str):
        if run_id not in status:
            return jsonify(successful=False, resultHint="no run", resultValue={"errorCode": 10006}), 404
        return jsonify(
            successful=True, resultHint="", resultValue={"runInstanceId": run_id, "status": status[run_id]}
        )

    @sock.route("/robothub/<robot_id>")
    def robothub(ws, robot_id: str) -> None:
        try:
            while True:
                text = ws.receive(timeout=60)
                if text is None:
                    break
                msg = json.loads(text)
                action = msg.get("action")
                body = json.loads(msg["body"]) if isinstance(msg.get("body"), str) else msg.get("body") or {}
                if action == "Register":
                    conns[robot_id] = ws
                    idle.append(robot_id)
                elif action == "ReportFinish":
                    status[body["runInstanceId"]] = "succeeded"
                    if queued:
                        push(robot_id, queued.popleft())
                    else:
                        idle.append(robot_id)
                elif action in ("Heartbeat", "ReportLogs"):
                    pass
                else:
                    err = {"errorCode": 10001, "message": f"action: unknown action {action!r}"}
                    ws.send(json.dumps({"action": "Error", "body": json.dumps(err)}))
        except ConnectionClosed:
            pass
        finally:
            conns.pop(robot_id, None)
            if robot_id in idle:
                idle.remove(robot_id)

    _serve(app, port)


def insert_loop(url: str, seconds: float, batch: int, workdir: Path) -> dict:
    from sqlalchemy import MetaData, insert
    from wire import clock_of, log_lines  # this script runs from bench/

    if url == "sqlite":
        db_path = workdir / "baseline-insert.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{db_path}"
    engine = _engine(url)
    table = _table(MetaData())
    table.drop(engine, checkfirst=True)
    table.metadata.create_all(engine)
    written, elapsed, k = 0, 0.0, 0
    while elapsed < seconds:
        # each batch a second later than the last, as the node's senders do (not timed: the node
        # does not make the lines either)
        lines = log_lines(batch, "baseline", clock=clock_of(k))
        k += 1
        t0 = time.perf_counter()
        rows = _rows("r_baseline", "robot-1", lines)  # the same per-row conversion the node does
        with engine.begin() as con:
            con.execute(insert(table), rows)
        elapsed += time.perf_counter() - t0
        written += len(rows)
    with engine.connect() as con:
        stored = con.exec_driver_sql("SELECT count(*) FROM run_instance_log").scalar()
    table.drop(engine)
    return {"lines": written, "seconds": elapsed, "lines_per_s": written / elapsed, "stored": stored}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["hub", "dispatch", "insert"])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/bench-baseline"))
    ap.add_argument(
        "--database-url", default="sqlite", help="insert mode: 'sqlite' (file in workdir) or a URL"
    )
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--batch", type=int, default=1000)
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.mode == "insert":
        print(json.dumps(insert_loop(args.database_url, args.seconds, args.batch, args.workdir)), flush=True)
        return
    from gevent import monkey

    monkey.patch_all()
    sys.setrecursionlimit(10000)
    {"hub": hub, "dispatch": dispatch}[args.mode](args.port, args.workdir)


if __name__ == "__main__":
    main()
