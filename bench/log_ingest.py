"""Log ingest: ReportLogs lines per second end to end through the hub into the database.

Load: ``--robots`` WebSocket executors (one gevent process), each registered, holding a run of its own
(``POST /api/v1/runs {appId, robotId}``, Execute received, a Heartbeat naming the run), send
``--batch``-line ReportLogs frames as fast as the node accepts them. Pacing: every ReportLogs is
followed by a probe frame ``{"action": "BenchProbe"}`` (unknown action, answered with Error 10001);
the node reads a connection's frames in order and reads the next frame of a ReportLogs only after its
lines are committed (group commit), so the probe's answer confirms the batch is durable. Each robot
keeps ``--inflight`` batches outstanding. Lines/s = confirmed lines / elapsed; at the end the rows in
``run_instance_log`` are counted (SQLite file, or PostgreSQL) and must equal the confirmed lines.

Baseline (own process, ``baselines.py insert``): SQLAlchemy Core ``insert()`` of ``--batch``-row
batches, one commit each, into a table shaped like ``run_instance_log`` (same index, same per-row
timestamp parsing) in the same kind of database, for the same duration.

Databases: SQLite (embedded node) always; PostgreSQL too with ``--database-url
postgresql+psycopg://user@/db?host=/tmp&port=55432`` (the node gets a fresh database created next to
it, via RPA_DATABASE_URL) or ``--start-postgres`` (initdb + pg_ctl of the local PostgreSQL 15 in a
temp dir on port ``--pg-port``, stopped at the end).

Run:  .venv/bin/python bench/log_ingest.py --seconds 20 --start-postgres
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness as h

PG_BIN = Path("/usr/lib/postgresql/15/bin")


# --- worker process ----------------------------------------------------------------------------------
def worker_main(cfg: dict) -> None:
    from gevent import monkey

    monkey.patch_all()
    import gevent
    import requests

    h.raise_nofile()
    read_command, reply = h.worker_channel()
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {cfg['token']}"
    base = f"http://{cfg['host']}:{cfg['port']}"
    robots: list[tuple[h.RawWs, bytes]] = []
    st = {"lines": 0, "stop": False}
    errors: list[str] = []

    def setup(idx: int) -> None:
        rid = f"ingest-{idx:03d}"
        ws = h.RawWs(cfg["host"], cfg["port"], f"/robothub/{rid}")
        ws.send(h.register_frame(rid, cfg["supplier"], cfg["secret"]), h.PROBE)
        if ws.recv_frame().get("action") != "Error":  # the probe's answer
            raise RuntimeError("unexpected answer to Register")
        r = http.post(f"{base}/api/v1/runs", json={"appId": cfg["app"], "robotId": rid}, timeout=60)
        r.raise_for_status()
        run_id = r.json()["resultValue"]["runInstanceId"]
        while True:
            msg = ws.recv_frame()
            if msg.get("action") == "Execute" and msg["body"]["runInstanceId"] == run_id:
                break
        ws.send(h.frame("Heartbeat", {"runInstanceId": run_id}), h.PROBE)
        ws.recv_frame()
        robots.append((ws, h.logs_frame(run_id, h.log_lines(cfg["batch"], rid, clock=h.CLOCK))))

    def pump(ws: h.RawWs, template: bytes) -> None:
        outstanding, sent = 0, 0
        while not st["stop"] or outstanding:
            while outstanding < cfg["inflight"] and not st["stop"]:
                ws.send(h.clocked(template, sent), h.PROBE)  # each batch a second later
                sent += 1
                outstanding += 1
            msg = ws.recv_frame()
            if h.is_probe_reply(msg):
                outstanding -= 1
                st["lines"] += cfg["batch"]  # no other Error came before it: the batch is committed
            elif msg.get("action") == "Error":
                errors.append(json.dumps(msg.get("body"))[:200])
                st["lines"] -= cfg["batch"]  # that batch was refused; its probe still comes

    gevent.joinall([gevent.spawn(setup, i) for i in range(cfg["robots"])], raise_error=True)
    reply({"ready": len(robots)})
    cmd = read_command()
    if cmd and cmd["cmd"] == "run":
        pumps = [gevent.spawn(pump, ws, data) for ws, data in robots]
        t0 = time.monotonic()
        gevent.sleep(cmd["seconds"])
        st["stop"] = True
        gevent.joinall(pumps, timeout=60)
        reply(
            {
                "lines": st["lines"],
                "elapsed": time.monotonic() - t0,
                "errors": len(errors),
                "sample": errors[:3],
            }
        )
        for ws, _ in robots:
            ws.close()


# --- databases ------------------------------------------------------------------------------------------
class LocalPostgres:
    """A throwaway PostgreSQL 15 cluster (run as the postgres user when we are root)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.dir = Path(tempfile.mkdtemp(prefix="bench-pg-"))
        self.data = self.dir / "data"
        self.prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.prefix:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run(
            [str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8"]
        )
        self._run(
            [
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.dir / "pg.log"),
                "-w",
                "-o",
                f"-k /tmp -p {port} -c listen_addresses=''",
                "start",
            ]
        )
        self.url = f"postgresql+psycopg://postgres@/postgres?host=/tmp&port={port}"

    def _run(self, argv: list[str]) -> None:
        subprocess.run(self.prefix + argv, check=True, stdout=subprocess.DEVNULL, cwd=self.dir)

    def stop(self) -> None:
        self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"])
        shutil.rmtree(self.dir, ignore_errors=True)


def pg_count(url: str) -> int:
    from sqlalchemy import create_engine

    engine = create_engine(url)
    with engine.connect() as con:
        n = con.exec_driver_sql("SELECT count(*) FROM run_instance_log").scalar()
    engine.dispose()
    return n


# --- controller --------------------------------------------------------------------------------------------
def baseline(args, url: str, workdir: Path) -> dict:
    argv = [
        h.PYTHON,
        str(h.BENCH / "baselines.py"),
        "insert",
        "--database-url",
        url,
        "--seconds",
        str(args.seconds),
        "--batch",
        str(args.batch),
        "--workdir",
        str(workdir),
    ]
    res = json.loads(subprocess.run(argv, check=True, capture_output=True, text=True, cwd=h.ROOT).stdout)
    print(
        f"  [baseline {args.kind}] Core insert() batches of {args.batch}: {res['lines']} rows in "
        f"{res['seconds']:.1f}s = {res['lines_per_s']:,.0f} rows/s (stored {res['stored']})",
        flush=True,
    )
    return res


def node(args, db_url: str | None, workdir: Path) -> dict:
    env = {"RPA_DATABASE_URL": db_url} if db_url else {}
    server = h.start_node(workdir / "node", env=env)
    worker = None
    try:
        api = h.Api(server.url)
        fx = h.node_fixture(api, "ingest")
        cfg = {
            "host": "127.0.0.1",
            "port": server.port,
            "token": api.token,
            **fx,
            "robots": args.robots,
            "batch": args.batch,
            "inflight": args.inflight,
        }
        worker = h.Worker(Path(__file__), cfg)
        worker.recv()
        spy = (
            h.start_pyspy(server.pid, args.seconds, args.profile_dir / f"ingest-{args.kind}.txt")
            if args.profile_dir
            else None
        )
        cpu0 = h.cpu_seconds(server.pid)
        res = worker.call(cmd="run", seconds=args.seconds)
        res["cpu"] = (h.cpu_seconds(server.pid) - cpu0) / res["elapsed"]
        if spy is not None:
            spy.wait(30)
        time.sleep(0.5)
        res["stored"] = pg_count(db_url) if db_url else h.sqlite_count(workdir / "node" / "node.db")
        res["lines_per_s"] = res["lines"] / res["elapsed"]
        res["rss_mib"] = server.rss_mib()
        print(
            f"  [node {args.kind}] {args.robots} robots x {args.batch}-line ReportLogs ({args.inflight} in "
            f"flight each): {res['lines']} lines confirmed in {res['elapsed']:.1f}s = "
            f"{res['lines_per_s']:,.0f} lines/s | rows stored {res['stored']} (lost "
            f"{max(0, res['lines'] - res['stored'])}) | Error frames {res['errors']} | node CPU "
            f"{res['cpu'] * 100:.0f}% | RSS {res['rss_mib']:.0f} MiB",
            flush=True,
        )
        for e in res["sample"]:
            print(f"      error: {e}", flush=True)
    finally:
        if worker is not None:
            worker.close()
        server.stop()
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--robots", type=int, default=8)
    ap.add_argument("--batch", type=int, default=1000, help="lines per ReportLogs (protocol maximum 1000)")
    ap.add_argument("--inflight", type=int, default=2, help="batches outstanding per robot")
    ap.add_argument("--seconds", type=float, default=20.0, help="duration of each measurement")
    ap.add_argument("--database-url", default="", help="also measure PostgreSQL on this server")
    ap.add_argument("--start-postgres", action="store_true", help="start a throwaway local PostgreSQL 15")
    ap.add_argument("--pg-port", type=int, default=55432)
    ap.add_argument("--no-sqlite", action="store_true")
    ap.add_argument("--profile-dir", type=Path, default=None, help="py-spy raw profiles of the node here")
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    if args.worker:
        worker_main(json.loads(args.worker))
        return
    h.raise_nofile()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    if args.profile_dir:
        args.profile_dir.mkdir(parents=True, exist_ok=True)
    print(
        f"log_ingest: {args.robots} robots, {args.batch}-line batches, {args.seconds:g}s per measurement, "
        f"workdir {workdir}",
        flush=True,
    )
    results = []
    pg = None
    try:
        if not args.no_sqlite:
            args.kind = "sqlite"
            b = baseline(args, "sqlite", workdir / "sqlite")
            o = node(args, None, workdir / "sqlite")
            results.append(("SQLite", o, b, 50000))
        pg_url = args.database_url
        if args.start_postgres and not pg_url:
            pg = LocalPostgres(args.pg_port)
            pg_url = pg.url
        if pg_url:
            args.kind = "postgresql"
            tag = os.getpid()
            b = baseline(args, h.pg_create_database(pg_url, f"bench_base_{tag}"), workdir / "pg")
            o = node(args, h.pg_create_database(pg_url, f"bench_node_{tag}"), workdir / "pg")
            results.append(("PostgreSQL", o, b, 25000))
    finally:
        if pg is not None:
            pg.stop()
    print("\ndatabase   | ours lines/s | bare rows/s | ratio | target                       | met")
    for name, o, b, target in results:
        r = o["lines_per_s"] / b["lines_per_s"]
        ok = o["lines_per_s"] >= target and o["stored"] == o["lines"] and o["errors"] == 0
        extra = " and >= 0.5 of bare" if name == "SQLite" else ""
        if name == "SQLite":
            ok = ok and r >= 0.5
        print(
            f"{name:<10} | {o['lines_per_s']:12,.0f} | {b['lines_per_s']:11,.0f} | {r:5.2f} | "
            f">= {target:,}/s{extra:<18} | {'MET' if ok else 'MISSED'}"
        )


if __name__ == "__main__":
    main()
